"""Writes or reads a small MLMD graph on a MySQL/PostgreSQL database with whichever library runs it:
google's ml-metadata (side venv) or mlmd_core. Both print the same canonical text for the same data.

    python server_roundtrip.py ml_metadata|mlmd_core write|read CONFIG_TEXTPROTO
"""

from __future__ import annotations

import sys

from google.protobuf import text_format


def main(impl: str, command: str, config_text: str) -> None:
    if impl == "ml_metadata":
        import ml_metadata as mlmd
        from ml_metadata.proto import metadata_store_pb2 as pb
    else:
        import mlmd_core as mlmd
        from mlmd_core.proto import metadata_store_pb2 as pb
    config = text_format.Parse(config_text, pb.ConnectionConfig())
    s = mlmd.MetadataStore(config)
    if command == "write":
        at = pb.ArtifactType(name="Data", version="v1", description="d", external_id="t-ext")
        for name, kind in (("i", pb.INT), ("d", pb.DOUBLE), ("s", pb.STRING), ("st", pb.STRUCT), ("b", pb.BOOLEAN)):
            at.properties[name] = kind
        at_id = s.put_artifact_type(at)
        et_id = s.put_execution_type(pb.ExecutionType(name="Train", base_type=pb.ExecutionType.TRAIN))
        ct_id = s.put_context_type(pb.ContextType(name="Run"))
        arts = []
        for n in range(3):
            a = pb.Artifact(type_id=at_id, uri=f"/data/{n}", name=f"a{n}", state=pb.Artifact.LIVE)
            a.properties["i"].int_value = n - 1
            a.properties["d"].double_value = n + 0.25
            a.properties["s"].string_value = f"caf\u00e9 {n}"
            a.properties["st"].struct_value.update({"k": [1, "x", None], "n": n})
            a.properties["b"].bool_value = bool(n % 2)
            a.custom_properties["tag"].string_value = "Red" if n else "red"
            a.custom_properties["p"].proto_value.Pack(pb.Artifact(uri="packed"))
            if n == 2:
                a.external_id = "a-ext"
            arts.append(a)
        aids = s.put_artifacts(arts)
        ev = pb.Event(type=pb.Event.INPUT)
        ev.path.steps.add(key="in")
        ev.path.steps.add(index=3)
        s.put_execution(pb.Execution(type_id=et_id, name="e0", last_known_state=pb.Execution.COMPLETE),
                        [(pb.Artifact(id=aids[0], type_id=at_id), ev)], [pb.Context(type_id=ct_id, name="r0")])
        [c1] = s.put_contexts([pb.Context(type_id=ct_id, name="parent")])
        child = s.get_context_by_type_and_name("Run", "r0")
        s.put_parent_contexts([pb.ParentContext(child_id=child.id, parent_id=c1)])
        s.put_attributions_and_associations([pb.Attribution(artifact_id=aids[2], context_id=c1)], [])
        return
    out = []

    def emit(label: str, messages) -> None:
        for m in messages:
            for field in ("create_time_since_epoch", "last_update_time_since_epoch", "milliseconds_since_epoch"):
                if field in m.DESCRIPTOR.fields_by_name:
                    m.ClearField(field)
            out.append(f"{label}: {text_format.MessageToString(m, as_one_line=True, as_utf8=True)}")

    emit("artifact_type", s.get_artifact_types())
    emit("execution_type", s.get_execution_types())
    emit("context_type", s.get_context_types())
    emit("artifact", s.get_artifacts())
    emit("execution", s.get_executions())
    emit("context", s.get_contexts())
    emit("event", s.get_events_by_execution_ids([e.id for e in s.get_executions()]))
    for c in s.get_contexts():
        emit(f"artifacts_of_{c.id}", s.get_artifacts_by_context(c.id))
        emit(f"parents_of_{c.id}", s.get_parent_contexts_by_context(c.id))
    emit("filter", s.get_artifacts(list_options=mlmd.ListOptions(
        filter_query="properties.i.int_value >= 0 AND custom_properties.tag.string_value = 'Red'")))
    print("\n".join(sorted(out)))  # ml-metadata on MySQL returns unordered lists


if __name__ == "__main__":
    main(*sys.argv[1:4])
