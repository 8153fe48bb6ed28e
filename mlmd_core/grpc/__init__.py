"""MetadataStoreService over gRPC: the server (`mlmd-server`, server.py) and the client backend of
MetadataStore (client.py)."""
