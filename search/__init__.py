"""Similar-case search: FAISS vectors, jieba BM25, filters inside retrieval, fusion, the engine and its CLI."""
