"""MetadataStoreService over gRPC: the client backend of MetadataStore."""
