"""The Streamlit user interface: one module per page (chat, library, evaluation) and small helpers.

Pages only call into ``kb`` and ``ingest``; they never retrieve, rank or compose themselves.
"""
