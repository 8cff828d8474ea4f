"""Foundations every layer uses: settings, documents and chunk metadata, answer types, errors, text, areas, prompts."""
