"""Where chunks live: the Chroma store, the keyword index, the knowledge base over both, backups."""
