"""The front's one S3 error table, the `S3Error` exception, and the XML error document.

Every error a client sees goes through here: handlers raise `S3Error` (or let a `RemoteError`
from another process reach the app, which converts it with `as_s3_error`), and `render_error`
builds the `<Error>` body. Internal codes (BlobMissing, ProtocolError, ...) never reach a
client: they become InternalError, and the original code and message stay on the exception
for the log line.

This module is the leaf of the front's S3 vocabulary (xml and s3types import it), so the XML
text escaping they all share lives here too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from protocol.errors import RemoteError

# code -> (HTTP status, default message). Statuses and messages follow the AWS S3 API
# reference "List of error codes"; the last block holds our own codes.
ERRORS: dict[str, tuple[int, str]] = {
    "AccessControlListNotSupported": (400, "The bucket does not allow ACLs."),
    "AccessDenied": (403, "Access Denied"),
    "AccountProblem": (
        403,
        "There is a problem with your account that prevents the operation from completing "
        "successfully.",
    ),
    "AllAccessDisabled": (403, "All access to this Amazon S3 resource has been disabled."),
    "AuthorizationHeaderMalformed": (400, "The authorization header you provided is invalid."),
    "AuthorizationQueryParametersError": (
        400,
        "The authorization query parameters you provided are not valid.",
    ),
    "BadDigest": (400, "The Content-MD5 you specified did not match what we received."),
    "BadRequest": (400, "Bad Request"),
    "BucketAlreadyExists": (
        409,
        "The requested bucket name is not available. The bucket namespace is shared by all "
        "users of the system. Please select a different name and try again.",
    ),
    "BucketAlreadyOwnedByYou": (
        409,
        "Your previous request to create the named bucket succeeded and you already own it.",
    ),
    "BucketNotEmpty": (409, "The bucket you tried to delete is not empty"),
    "ConditionalRequestConflict": (
        409,
        "A conflicting operation occurred. If using PutObject you can retry the request. If "
        "using multipart upload you should initiate another CreateMultipartUpload request and "
        "re-upload each part.",
    ),
    "CredentialsNotSupported": (400, "This request does not support credentials."),
    "EntityTooLarge": (400, "Your proposed upload exceeds the maximum allowed object size."),
    "EntityTooSmall": (
        400,
        "Your proposed upload is smaller than the minimum allowed object size.",
    ),
    "ExpiredToken": (400, "The provided token has expired."),
    "IllegalLocationConstraintException": (
        400,
        "The unspecified location constraint is incompatible for the region specific endpoint "
        "this request was sent to.",
    ),
    "IllegalVersioningConfigurationException": (
        400,
        "The versioning configuration specified in the request is invalid.",
    ),
    "IncompleteBody": (
        400,
        "You did not provide the number of bytes specified by the Content-Length HTTP header.",
    ),
    "IncompleteSignature": (400, "The request signature does not conform to AWS standards."),
    "InternalError": (500, "We encountered an internal error. Please try again."),
    "InvalidAccessKeyId": (
        403,
        "The AWS Access Key Id you provided does not exist in our records.",
    ),
    "InvalidArgument": (400, "Invalid Argument"),
    "InvalidBucketName": (400, "The specified bucket is not valid."),
    "InvalidBucketState": (409, "The request is not valid with the current state of the bucket."),
    "InvalidChunkSizeError": (
        403,
        "Only the last chunk is allowed to have a size less than 8192 bytes",
    ),
    "InvalidDigest": (400, "The Content-MD5 you specified is not valid."),
    "InvalidEncryptionAlgorithmError": (
        400,
        "The encryption request you specified is not valid. The valid value is AES256.",
    ),
    "InvalidLocationConstraint": (400, "The specified location constraint is not valid."),
    "InvalidObjectState": (403, "The operation is not valid for the current state of the object."),
    "InvalidPart": (
        400,
        "One or more of the specified parts could not be found. The part might not have been "
        "uploaded, or the specified entity tag might not have matched the part's entity tag.",
    ),
    "InvalidPartOrder": (
        400,
        "The list of parts was not in ascending order. The parts list must be specified in "
        "order by part number.",
    ),
    "InvalidPolicyDocument": (
        400,
        "The content of the form does not meet the conditions specified in the policy document.",
    ),
    "InvalidRange": (416, "The requested range is not satisfiable"),
    "InvalidRequest": (400, "Invalid Request"),
    "InvalidSecurity": (403, "The provided security credentials are not valid."),
    "InvalidStorageClass": (400, "The storage class you specified is not valid"),
    "InvalidTag": (400, "The tag provided was not a valid tag."),
    "InvalidToken": (400, "The provided token is malformed or otherwise invalid."),
    "InvalidURI": (400, "Couldn't parse the specified URI."),
    "KeyTooLongError": (400, "Your key is too long"),
    "MalformedACLError": (
        400,
        "The XML you provided was not well-formed or did not validate against our published schema",
    ),
    "MalformedPOSTRequest": (
        400,
        "The body of your POST request is not well-formed multipart/form-data.",
    ),
    "MalformedPolicy": (400, "Policy has invalid resource"),
    "MalformedTrailerError": (
        400,
        "The request contained trailing data that was not well-formed or did not conform to "
        "our published schema.",
    ),
    "MalformedXML": (
        400,
        "The XML you provided was not well-formed or did not validate against our published schema",
    ),
    "MaxMessageLengthExceeded": (400, "Your request was too big."),
    "MaxPostPreDataLengthExceededError": (
        400,
        "Your POST request fields preceding the upload file were too large.",
    ),
    "MetadataTooLarge": (
        400,
        "Your metadata headers exceed the maximum allowed metadata size.",
    ),
    "MethodNotAllowed": (405, "The specified method is not allowed against this resource."),
    "MissingContentLength": (411, "You must provide the Content-Length HTTP header."),
    "MissingRequestBodyError": (400, "Request Body is empty"),
    "MissingSecurityHeader": (400, "Your request is missing a required header."),
    "NoSuchBucket": (404, "The specified bucket does not exist"),
    "NoSuchBucketPolicy": (404, "The bucket policy does not exist"),
    "NoSuchCORSConfiguration": (404, "The CORS configuration does not exist"),
    "NoSuchKey": (404, "The specified key does not exist."),
    "NoSuchLifecycleConfiguration": (404, "The lifecycle configuration does not exist"),
    "NoSuchTagSet": (404, "The TagSet does not exist"),
    "NoSuchUpload": (
        404,
        "The specified upload does not exist. The upload ID may be invalid, or the upload may "
        "have been aborted or completed.",
    ),
    "NoSuchVersion": (404, "The specified version does not exist."),
    "NotImplemented": (
        501,
        "A header you provided implies functionality that is not implemented",
    ),
    "NotModified": (304, "Not Modified"),
    "ObjectLockConfigurationNotFoundError": (
        404,
        "Object Lock configuration does not exist for this bucket",
    ),
    "OperationAborted": (
        409,
        "A conflicting conditional operation is currently in progress against this resource. "
        "Please try again.",
    ),
    "PreconditionFailed": (412, "At least one of the pre-conditions you specified did not hold"),
    "RequestTimeTooSkewed": (
        403,
        "The difference between the request time and the server's time is too large.",
    ),
    "RequestTimeout": (
        400,
        "Your socket connection to the server was not read from or written to within the "
        "timeout period.",
    ),
    "ServerSideEncryptionConfigurationNotFoundError": (
        404,
        "The server side encryption configuration was not found",
    ),
    "ServiceUnavailable": (503, "Service is unable to handle request. Please try again."),
    "SignatureDoesNotMatch": (
        403,
        "The request signature we calculated does not match the signature you provided. Check "
        "your key and signing method.",
    ),
    "SlowDown": (503, "Please reduce your request rate."),
    "TooManyBuckets": (400, "You have attempted to create more buckets than allowed"),
    "UnexpectedContent": (400, "This request does not support content"),
    "XAmzContentSHA256Mismatch": (
        400,
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    ),
    # Ours: a full disk is the client's business (it may retry elsewhere), so it gets its own
    # code and WebDAV's 507 rather than an opaque 500.
    "InsufficientStorage": (507, "Insufficient storage to complete the request"),
}

# Codes other processes raise that must not reach a client as such: the client sees the
# mapped code with that code's default message (the original text may hold paths or digests).
INTERNAL_CODES: dict[str, str] = {
    "BlobMissing": "InternalError",
    "BlobCorrupt": "InternalError",
    "BlobSizeMismatch": "InternalError",
    "ProtocolError": "InternalError",
}

_RESERVED = frozenset({"Code", "Message", "Resource", "RequestId", "HostId"})
# Extra elements must be plain XML names; remote details with other keys are for logs only.
_ELEMENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


class S3Error(Exception):
    """An error for the client: S3 `code`, HTTP `status`, `message`, and `extra` elements.

    `internal_code` and `log_detail` keep what happened before an internal code was hidden
    behind InternalError; they are for the log line, never for the response.
    """

    def __init__(
        self,
        code: str,
        message: str | None = None,
        extra: Mapping[str, str | int] | None = None,
    ) -> None:
        internal_code = code
        log_detail = ""
        if code in INTERNAL_CODES:
            code = INTERNAL_CODES[code]
            log_detail = message or ""
            message = None
        entry = ERRORS.get(code)
        if entry is None:
            raise ValueError(f"unknown S3 error code {code!r}: add it to ERRORS in errors.py")
        self.code = code
        self.status, default = entry
        self.message = message or default
        self.internal_code = internal_code
        self.log_detail = log_detail
        self.extra: dict[str, str] = {}
        for name, value in (extra or {}).items():
            if name in _RESERVED or not _ELEMENT_NAME.fullmatch(name):
                raise ValueError(f"invalid extra element name {name!r} for S3 error {code}")
            self.extra[name] = str(value)
        super().__init__(f"{code}: {self.message}")


def s3_error(code: str, message: str | None = None, **extra: str | int) -> S3Error:
    """Build an `S3Error`; keyword arguments become extra elements (`BucketName="b"`)."""
    return S3Error(code, message, extra)


def from_remote(code: str, message: str, details: Mapping[str, str]) -> S3Error:
    """Rebuild an error that crossed a process boundary (`ErrorReply`) as an `S3Error`.

    A known S3 code keeps its message and those details that are valid element names; an
    internal code becomes InternalError with the detail kept for the log; an unknown code
    becomes InternalError too, with the unknown code on `internal_code`.
    """
    if code in INTERNAL_CODES:
        return S3Error(code, message)
    if code not in ERRORS:
        err = S3Error("InternalError")
        err.internal_code = code
        err.log_detail = message
        return err
    extra = {
        name: value
        for name, value in details.items()
        if name not in _RESERVED and _ELEMENT_NAME.fullmatch(name)
    }
    return S3Error(code, message or None, extra)


def as_s3_error(exc: BaseException) -> S3Error:
    """The `S3Error` to send for any exception a handler let through."""
    if isinstance(exc, S3Error):
        return exc
    if isinstance(exc, RemoteError):
        return from_remote(exc.error_code, exc.message, exc.details)
    err = S3Error("InternalError")
    err.internal_code = type(exc).__name__
    err.log_detail = str(exc)
    return err


# XML 1.0 allows only tab, LF, CR and these ranges; anything else (C0 controls, lone surrogates,
# U+FFFE/U+FFFF) cannot be written even as a character reference, so it is replaced.
_INVALID_XML = "[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
_INVALID_XML_RE = re.compile(_INVALID_XML)
_NEEDS_ESCAPE = re.compile('[&<>"\r]|' + _INVALID_XML)


# The ASCII characters written as they are: tab, LF and everything printable but the markup
# characters (DEL is allowed in XML 1.0).
_PLAIN_ASCII = b"\t\n" + bytes(c for c in range(0x20, 0x80) if chr(c) not in '&<>"')


def xml_plain(text: str) -> bool:
    """Whether `xml_escape(text)` is `text` itself. Listings test a whole page's values
    joined at once: deleting the plain bytes is one C pass, where the regex below costs
    about 10 ns a character."""
    if text.isascii():
        return not text.encode().translate(None, _PLAIN_ASCII)
    return _NEEDS_ESCAPE.search(text) is None


def xml_escape(text: str) -> str:
    """Escape `text` for an XML element body; characters XML 1.0 forbids become U+FFFD.

    A raw CR would be read back as LF by every parser, so it is written as a reference.
    """
    if xml_plain(text):
        return text
    text = (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\r", "&#13;")
    )
    return _INVALID_XML_RE.sub("\ufffd", text)


XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


def render_error(err: S3Error, resource: str, request_id: str, host_id: str) -> bytes:
    """The XML body of an error response (the caller omits it for HEAD and 304)."""
    parts = [
        XML_DECLARATION,
        "<Error><Code>",
        err.code,
        "</Code><Message>",
        xml_escape(err.message),
        "</Message>",
    ]
    for name, value in err.extra.items():
        parts.append(f"<{name}>{xml_escape(value)}</{name}>")
    if resource:
        parts.append(f"<Resource>{xml_escape(resource)}</Resource>")
    parts.append(f"<RequestId>{xml_escape(request_id)}</RequestId>")
    parts.append(f"<HostId>{xml_escape(host_id)}</HostId></Error>")
    return "".join(parts).encode()
