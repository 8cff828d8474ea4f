"""CTO Assistant: the Streamlit app (``streamlit run app.py``).

Navigation and wiring only; each page lives in ``ui/`` and every answer comes from
``kb.answering.assistant.Assistant``.
"""

import streamlit as st

from ui import identity, nav, resources


def main() -> None:
    st.set_page_config(page_title="CTO Assistant", page_icon=":material/school:", layout="centered")
    resources.setup_logging()
    me = identity.gate()  # with sign-in configured: the sign-in page until someone allowed signs in
    identity.account_box(me)
    from ui import admin, chat, evaluation, library  # here, not at the top: worker processes re-import this file

    renderers = {"chat": chat.render, "library": library.render, "evaluation": evaluation.render, "admin": admin.render}
    st.navigation(nav.pages(renderers, role=me.role, signed_in=me.signed_in), position="sidebar").run()


# Streamlit runs this file as __main__; the ingest parser's worker processes re-import it as
# __mp_main__ (multiprocessing's spawn), where it must do nothing.
if __name__ == "__main__":
    main()
