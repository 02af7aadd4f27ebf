<?php
// Drives the simulator's SOAP service with PHP's own SoapClient, as §3.4's example does.
// Usage: php soap_client.php wsdl|nowsdl URL APIKEY USERNAME PASSWORD MOBILE CONTENT
// WSDL mode fetches URL?wsdl; without a WSDL, SoapClient names the parameters param0..param4.
[$script, $mode, $url, $apikey, $username, $password, $mobile, $content] = $argv;
ini_set('soap.wsdl_cache_enabled', '0');
ini_set('default_socket_timeout', '10');
if ($mode === 'wsdl') {
    $soapClient = new SoapClient($url . '?wsdl', ['connection_timeout' => 10, 'trace' => 1]);
} else {
    $soapClient = new SoapClient(null, [
        'location' => $url,
        'uri' => 'urn:any-namespace-the-caller-likes',
        'connection_timeout' => 10,
        'trace' => 1,
    ]);
}
$result = $soapClient->sendsms($apikey, $username, $password, $mobile, $content);
echo json_encode(['result' => $result, 'request' => $soapClient->__getLastRequest()]);
