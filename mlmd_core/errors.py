"""MLMD's exception classes and status codes (the same names and codes as ``ml_metadata.errors``).

The codes are the canonical gRPC/absl status codes, so an error raised by the SQL engine travels over
gRPC as the matching status and is rebuilt as the same class on the client.
"""

from __future__ import annotations

import logging

OK = 0
CANCELLED = 1
UNKNOWN = 2
INVALID_ARGUMENT = 3
DEADLINE_EXCEEDED = 4
NOT_FOUND = 5
ALREADY_EXISTS = 6
PERMISSION_DENIED = 7
RESOURCE_EXHAUSTED = 8
FAILED_PRECONDITION = 9
ABORTED = 10
OUT_OF_RANGE = 11
UNIMPLEMENTED = 12
INTERNAL = 13
UNAVAILABLE = 14
DATA_LOSS = 15
UNAUTHENTICATED = 16


class StatusError(Exception):
    """A failed MLMD call: ``message`` says what went wrong, ``error_code`` is its status code."""

    def __init__(self, message: str, error_code: int):
        super().__init__(message)
        self.message = message
        self.error_code = error_code

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):
        return (make_exception, (self.message, self.error_code))


def _status_class(name: str, code: int) -> type[StatusError]:
    def __init__(self, message: str):
        StatusError.__init__(self, message, code)

    return type(name, (StatusError,), {"__init__": __init__, "__doc__": f"Status code {code}."})


CancelledError = _status_class("CancelledError", CANCELLED)
InvalidArgumentError = _status_class("InvalidArgumentError", INVALID_ARGUMENT)
DeadlineExceededError = _status_class("DeadlineExceededError", DEADLINE_EXCEEDED)
NotFoundError = _status_class("NotFoundError", NOT_FOUND)
AlreadyExistsError = _status_class("AlreadyExistsError", ALREADY_EXISTS)
PermissionDeniedError = _status_class("PermissionDeniedError", PERMISSION_DENIED)
UnauthenticatedError = _status_class("UnauthenticatedError", UNAUTHENTICATED)
ResourceExhaustedError = _status_class("ResourceExhaustedError", RESOURCE_EXHAUSTED)
FailedPreconditionError = _status_class("FailedPreconditionError", FAILED_PRECONDITION)
AbortedError = _status_class("AbortedError", ABORTED)
OutOfRangeError = _status_class("OutOfRangeError", OUT_OF_RANGE)
UnimplementedError = _status_class("UnimplementedError", UNIMPLEMENTED)
InternalError = _status_class("InternalError", INTERNAL)
UnavailableError = _status_class("UnavailableError", UNAVAILABLE)
DataLossError = _status_class("DataLossError", DATA_LOSS)


class UnknownError(StatusError):
    """Status code 2, or any code this module does not know."""

    def __init__(self, message: str, error_code: int = UNKNOWN):
        super().__init__(message, error_code)


_CODE_TO_EXCEPTION_CLASS: dict[int, type[StatusError]] = {
    CANCELLED: CancelledError,
    UNKNOWN: UnknownError,
    INVALID_ARGUMENT: InvalidArgumentError,
    DEADLINE_EXCEEDED: DeadlineExceededError,
    NOT_FOUND: NotFoundError,
    ALREADY_EXISTS: AlreadyExistsError,
    PERMISSION_DENIED: PermissionDeniedError,
    UNAUTHENTICATED: UnauthenticatedError,
    RESOURCE_EXHAUSTED: ResourceExhaustedError,
    FAILED_PRECONDITION: FailedPreconditionError,
    ABORTED: AbortedError,
    OUT_OF_RANGE: OutOfRangeError,
    UNIMPLEMENTED: UnimplementedError,
    INTERNAL: InternalError,
    UNAVAILABLE: UnavailableError,
    DATA_LOSS: DataLossError,
}


def exception_type_from_error_code(error_code: int) -> type[StatusError]:
    """The exception class of a status code; KeyError for an unknown code (as MLMD)."""
    return _CODE_TO_EXCEPTION_CLASS[error_code]


def make_exception(message: str, error_code: int) -> StatusError:
    """An exception instance for a status code; an unknown code gives UnknownError."""
    if error_code == INTERNAL:
        logging.getLogger(__name__).warning("mlmd client %s: %s", error_code, message)
    cls = _CODE_TO_EXCEPTION_CLASS.get(error_code)
    if cls is None or cls is UnknownError:
        return UnknownError(message, error_code)
    return cls(message)
