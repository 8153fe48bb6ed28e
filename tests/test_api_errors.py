"""mlmd_core.errors and the package surface (reference §1.1, §1.5, §1.6)."""

from __future__ import annotations

import importlib
import pickle

import pytest
from store_fixtures import ORACLE, errors, memory_config, mlmd, pb

CODES = {
    "OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4, "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8, "FAILED_PRECONDITION": 9,
    "ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12, "INTERNAL": 13, "UNAVAILABLE": 14,
    "DATA_LOSS": 15, "UNAUTHENTICATED": 16,
}

CLASSES = {
    "CancelledError": 1, "UnknownError": 2, "InvalidArgumentError": 3, "DeadlineExceededError": 4,
    "NotFoundError": 5, "AlreadyExistsError": 6, "PermissionDeniedError": 7, "ResourceExhaustedError": 8,
    "FailedPreconditionError": 9, "AbortedError": 10, "OutOfRangeError": 11, "UnimplementedError": 12,
    "InternalError": 13, "UnavailableError": 14, "DataLossError": 15, "UnauthenticatedError": 16,
}

PROTO_CLASSES = [
    "Artifact", "ArtifactType", "Association", "Attribution", "ConnectionConfig", "Context", "ContextType",
    "Event", "Execution", "ExecutionType", "FakeDatabaseConfig", "MetadataStoreClientConfig",
    "MySQLDatabaseConfig", "ParentContext", "SqliteMetadataSourceConfig",
]


@pytest.mark.parametrize("name,code", sorted(CODES.items(), key=lambda kv: kv[1]))
def test_codes(name, code):
    assert getattr(errors, name) == code


@pytest.mark.parametrize("name,code", sorted(CLASSES.items(), key=lambda kv: kv[1]))
def test_classes(name, code):
    cls = getattr(errors, name)
    assert issubclass(cls, errors.StatusError)
    assert issubclass(cls, Exception)
    exc = cls("the message")
    assert exc.message == "the message"
    assert exc.error_code == code
    assert "the message" in str(exc)
    assert errors.exception_type_from_error_code(code) is cls
    made = errors.make_exception("made", code)
    assert type(made) is cls
    assert made.message == "made" and made.error_code == code


def test_status_error():
    exc = errors.StatusError("msg", 3)
    assert exc.message == "msg" and exc.error_code == 3
    assert isinstance(exc, Exception)


def test_unknown_error_default_code():
    assert errors.UnknownError("m").error_code == errors.UNKNOWN
    assert errors.UnknownError("m", 99).error_code == 99


@pytest.mark.parametrize("code", [17, 99, -1, 1000])
def test_make_exception_unknown_code_is_unknown_error(code):
    exc = errors.make_exception("weird", code)
    assert isinstance(exc, errors.UnknownError)
    assert exc.message == "weird"


@pytest.mark.parametrize("code", [0, 17, 99, -1])
def test_exception_type_from_unknown_code_is_key_error(code):
    with pytest.raises(KeyError):
        errors.exception_type_from_error_code(code)


def test_make_exception_internal_logs_and_returns(caplog):
    with caplog.at_level("WARNING"):
        exc = errors.make_exception("db exploded", errors.INTERNAL)
    assert isinstance(exc, errors.InternalError)
    assert exc.message == "db exploded"
    assert any("db exploded" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


@pytest.mark.parametrize("name,code", sorted(CLASSES.items(), key=lambda kv: kv[1]))
def test_pickle_round_trip(name, code):
    exc = getattr(errors, name)("pickled message")
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc)
    assert back.message == "pickled message"
    assert back.error_code == code


@pytest.mark.skipif(ORACLE, reason="ml-metadata's base StatusError does not unpickle (TypeError)")
def test_pickle_round_trip_of_status_error():
    base = pickle.loads(pickle.dumps(errors.StatusError("base", 7)))
    assert isinstance(base, errors.StatusError)
    assert base.message == "base" and base.error_code == 7
    odd = pickle.loads(pickle.dumps(errors.make_exception("odd", 99)))
    assert isinstance(odd, errors.UnknownError) and odd.error_code == 99


@pytest.mark.skipif(ORACLE, reason="mlmd_core-specific behaviour")
def test_pickle_round_trip_of_raised_error():
    s = mlmd.MetadataStore(memory_config())
    try:
        with pytest.raises(errors.NotFoundError) as info:
            s.get_artifact_type("missing")
        back = pickle.loads(pickle.dumps(info.value))
        assert isinstance(back, errors.NotFoundError)
        assert back.message == info.value.message
    finally:
        s.close()


def test_errors_are_catchable_by_class():
    s = mlmd.MetadataStore(memory_config())
    with pytest.raises(errors.StatusError) as info:
        s.get_artifact_type("missing")
    assert info.value.error_code == errors.NOT_FOUND
    assert isinstance(info.value, errors.NotFoundError)


# -------------------------------------------------------------------------------------- package surface


def test_package_surface():
    for name in ("MetadataStore", "ListOptions", "OrderByField", "downgrade_schema"):
        assert hasattr(mlmd, name), name
        assert name in mlmd.__all__
    assert mlmd.errors is errors
    assert mlmd.proto is not None
    assert mlmd.OrderByField.CREATE_TIME.value == 1
    assert mlmd.OrderByField.UPDATE_TIME.value == 2
    assert mlmd.OrderByField.ID.value == 3
    assert [m.name for m in mlmd.OrderByField] == ["CREATE_TIME", "UPDATE_TIME", "ID"]
    options = mlmd.ListOptions()
    assert (options.limit, options.order_by, options.is_asc, options.filter_query) == (None, None, True, None)
    options = mlmd.ListOptions(limit=3, order_by=mlmd.OrderByField.ID, is_asc=False, filter_query="id > 0")
    assert (options.limit, options.order_by, options.is_asc, options.filter_query) == (
        3, mlmd.OrderByField.ID, False, "id > 0")


def test_metadata_store_module_constants():
    name = "ml_metadata.metadata_store.metadata_store" if ORACLE else "mlmd_core.metadata_store"
    module = importlib.import_module(name)
    assert module.MAX_NUM_RESULT == 100
    assert module.MetadataStore is mlmd.MetadataStore


@pytest.mark.parametrize("name", PROTO_CLASSES)
def test_proto_reexports(name):
    cls = getattr(mlmd.proto, name)
    assert cls is getattr(pb, name)


def test_proto_does_not_reexport_the_others():
    for name in ("PostgreSQLDatabaseConfig", "MetadataStoreServerConfig", "ListOperationOptions"):
        assert not hasattr(mlmd.proto, name) or name in PROTO_CLASSES, name
        assert hasattr(pb, name)


def test_downgrade_schema_negative_version_is_invalid_argument(tmp_path):
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(tmp_path / "db.sqlite")
    with pytest.raises(errors.InvalidArgumentError, match="downgrade_to_schema_version not specified"):
        mlmd.downgrade_schema(config, -1)
    with pytest.raises(errors.InvalidArgumentError):
        mlmd.downgrade_schema(config, -5)
    assert not (tmp_path / "db.sqlite").exists()
