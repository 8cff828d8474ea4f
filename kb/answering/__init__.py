"""From a question to a cited Answer: retrieval, relevance gate, conversation, composers, audit."""
