"""The WSDL served at ``/api/send/sms_webservice.php?wsdl``: one rpc/encoded operation."""

from __future__ import annotations

from functools import lru_cache
from xml.sax.saxutils import quoteattr

from ..protocol import ENDPOINTS, SOAP_NAMESPACE, SOAP_PARTS, EndpointName

__all__ = ["SOAP_PATH", "wsdl"]

SOAP_PATH = ENDPOINTS[EndpointName.SEND_SOAP].path


@lru_cache(maxsize=32)
def wsdl(location: str) -> bytes:
    """Describe ``sendsms(apikey, username, password, mobile, content) -> string``.

    ``location`` is the absolute URL of the service (PHP's ``SoapClient`` cannot use a
    relative ``soap:address``): the app builds it from the request's scheme and Host.
    """
    parts = "".join(f'<part name="{p}" type="xsd:string"/>' for p in SOAP_PARTS)
    body = (
        f'<soap:body use="encoded" namespace="{SOAP_NAMESPACE}"'
        ' encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"/>'
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<definitions name="sms_webservice" xmlns="http://schemas.xmlsoap.org/wsdl/"'
        ' xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"'
        ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
        f' xmlns:tns="{SOAP_NAMESPACE}" targetNamespace="{SOAP_NAMESPACE}">'
        f'<message name="sendsmsRequest">{parts}</message>'
        '<message name="sendsmsResponse"><part name="return" type="xsd:string"/></message>'
        '<portType name="sms_webservicePortType"><operation name="sendsms">'
        '<input message="tns:sendsmsRequest"/><output message="tns:sendsmsResponse"/>'
        "</operation></portType>"
        '<binding name="sms_webserviceBinding" type="tns:sms_webservicePortType">'
        '<soap:binding style="rpc" transport="http://schemas.xmlsoap.org/soap/http"/>'
        '<operation name="sendsms">'
        f'<soap:operation soapAction="{SOAP_NAMESPACE}#sendsms" style="rpc"/>'
        f"<input>{body}</input><output>{body}</output></operation></binding>"
        '<service name="sms_webservice"><port name="sms_webservicePort"'
        ' binding="tns:sms_webserviceBinding">'
        f"<soap:address location={quoteattr(location)}/></port></service></definitions>"
    ).encode()
