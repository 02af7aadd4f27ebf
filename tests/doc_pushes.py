# ruff: noqa: E501
"""The push examples of API 7.0 §7.1.1 and §9.1, verbatim (typos, page breaks and all).

Each constant is the text as the document prints it: ``*_URL`` the "URLEncode 编码后" address,
``*_DECODED`` the "编码前" form. Where the document breaks a line across a page, ``*_AS_PRINTED``
keeps the break. docs/protocol.md, "Pushes", gives what the receiver does with each.
"""

from __future__ import annotations

REPORT_STRING_URL = "http://www.baidu.com/dir/report.php?data=309111755558600%2c13811299999%2cDELIVRD%2c1456853866%3b309111755559999%2c13811299988%2cDELIVRD%2c456853877"

REPORT_STRING_DECODED_AS_PRINTED = "http://www.baidu.com/dir/report.php?data=309111755558600,13811299999,DELIVRD,1456853866;309111755559999,13811299988,DELI\n\n\n\nVRD,456853877"

REPORT_JSON_URL = "http://www.baidu.com/dir/report.php?data=%7B%09%22results%22%3A%5B%7B%22msgid%22%3A%2212122663121210%22%2C%22mobile%22%3A%2213811299999%22%2C%22status%22%3A%22UNDELIV%22%2C%22receivetime%22%3A%221462879547%22%7D%2C%7B%22msgid%22%3A%222322613121411%22%2C%22mobile%22%3A%2218610310000%22%2C%22status%22%3A%22DELIVRD%22%2C%22receivetime%22%3A%221462879547%22%7D%5D%09%7D"

REPORT_JSON_DECODED = '{  "results":\n[{"msgid":"12122663121210","mobile":"13811299999","status":"UNDELIV","receivetime":"1462879547"},{"msgid":"22322613121411","mobile":"18610310000","status":"DELIVRD","receivetime":"1462879547"}] }'

REPORT_XML_URL = "http://www.baidu.com/dir/report.php?data=%3C%3Fxml+version%3D%221.0%22+encoding%3D%22utf-8%22%3F%3E%3Cresults%3E%3Cit%3E%09%3Cmsgid%3E1412544124087%3C%2Fmsgid%3E%09%3Cmobile%3E13811299999%3C%2Fmobile%3E%09%3Cstatus%3E%3ENOSEND%3C%2Fstatus%3E%09%3Creceivetime%3E1462880473%3C%2Freceivetime%3E%3C%2Fitem%3E%3C%2Fresults%3E"

REPORT_XML_DECODED = '<?xml version="1.0" encoding="utf-8"?><results><item>  <msgid>1412544124087</msgid>\n    <mobile>13811299999</mobile>    <status>NOSEND</status>\n    <receivetime>1462880473</receivetime></item></results>'

REPLY_STRING_URL_AS_PRINTED = "http://www.baidu.com/dir/report.php?data=\n2554%2c1445347%2c13811299999%2c%e5%a5%bd%2c1462913482%3b2554%2c1445347%2c13811299988%2c%e5%97%af%2c14629136\n43"

REPLY_STRING_DECODED_AS_PRINTED = "http://www.baidu.com/dir/report.php?data=2554,1445347,13811299999, 好 ,1462913482;2554,1445347,13811299988,  \n 喂,14629136432999988,DELIVRD,456853877"

REPLY_JSON_URL = "http://www.baidu.com/dir/report.php?data=%7B%09%22results%22%3A+%5B%7B%22ext%22%3A%2212024997664%22%2C%22replyid%22%3A%221443692%22%2C%22mobile%22%3A%22447874321404%22%2C%22content%22%3A%22H%22%2C%22receivetime%22%3A%221462832627%22%7D%2C%7B%22ext%22%3A%220%22%2C%22replyid%22%3A%221445336%22%2C%22mobile%22%3A%2213811299999%22%2C%22content%22%3A%22E5%91%B5%E5%91%B5%E5%91%B5%E5%91%B5%E5%91%B5%EF%BC%8C345%22%2C%22receivetime%22%3A%221462909232%22%7D%2C%7B%22ext%22%3A%220%22%2C%22replyid%22%3A%221445337%22%2C%22mobile%22%3A%2213811299999%22%2C%22content%22%3A%22E4%B9%88%E4%B9%88%E5%93%92189%E5%BF%97%E4%BC%9F%22%2C%22receivetime%22%3A%221462909307%22%7D%5D%09%7D"

REPLY_JSON_DECODED = '{\n  "results":\n  [{"ext":"12024997664","replyid":"1443692","mobile":"447874321404","content":"H","receivetime":"1462832627"},{"ext":"0","replyid":"1445336","mobile":"13811299999","content":"呵呵呵呵",\n  "345","receivetime":"1462909232"},{"ext":"0","replyid":"1445337","mobile":"13811299999","content":"么么哒 189 志伟",\n  "receivetime":"1462909307"}]}'

REPLY_XML_URL = "http://www.baidu.com/dir/report.php?data=%3C%3Fxml+version%3D221.0%22+encoding%3D22utf-8%22%3F%3E%3Cresults%3E%3Citem%3E%09%3Cext%3E2554%3C%2Fext%3E%09%3Creplyid%3E%3C%2Freplyid%3E%09%3Cmobile%3E18610310000%3C%2Fmobile%3E%09%3Ccontent%3E%E5%91%B5%E5%91%B5%E5%93%88%E5%93%88%3C%2Fcontent%3E%09%3Creceivetime%3E%3C%2Freceivetime%3E%3C%2Fitem%3E%3Citem%3E%09%3Cext%3E2554%3C%2Fext%3E%09%3Creplyid%3E%3C%2Freplyid%3E%09%3Cmobile%3E13811299999%3C%2Fmobile%3E%09%3Ccontent%3E%E4%BB%BB%E6%80%A7%E5%90%A7%3C%2Fcontent%3E%09%3Creceivetime%3E%3C%2Freceivetime%3E%3C%2Fitem%3E%3C%2Fresults%3E"

REPLY_XML_DECODED = '<?xml version="1.0" encoding="utf-8"?><results><item>  <ext>2554</ext>  <replyid></replyid>\n<mobile>18610310000</mobile>    <content>呵呵哈哈</content> <receivetime></receivetime></item><item>\n<ext>2554</ext>  <replyid></replyid>    <mobile>13811299999</mobile>    <content>  任    性    吧    </content>\n<receivetime></receivetime></item></results>'
