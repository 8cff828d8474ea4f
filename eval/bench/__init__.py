"""Speed benchmarks: ingest and retrieval against LangChain, scaling, encoder backends."""
