<?php
// PHP's own SoapServer (no WSDL), served by `php -S`: it records the arguments of each
// sendsms call into the file named by M5C_SOAP_LOG and answers success:<msgid>, in a
// namespace of its own choosing (the client must not depend on ours).
function sendsms($apikey, $username, $password, $mobile, $content) {
    $log = getenv('M5C_SOAP_LOG');
    file_put_contents($log, json_encode([
        'apikey' => $apikey, 'username' => $username, 'password' => $password,
        'mobile' => $mobile, 'content' => $content,
    ], JSON_UNESCAPED_UNICODE) . "\n", FILE_APPEND);
    return 'success:' . getenv('M5C_SOAP_MSGID');
}
if ($_SERVER['REQUEST_METHOD'] !== 'POST') {
    http_response_code(405);
    echo 'POST a SOAP envelope';
    return;
}
$server = new SoapServer(null, ['uri' => 'urn:somebody-else:sms']);
$server->addFunction('sendsms');
$server->handle();
