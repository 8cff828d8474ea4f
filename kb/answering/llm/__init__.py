"""The optional LLM composer: prompts to a LangChain chat model, replies checked against passages."""
