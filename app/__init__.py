"""The Streamlit views (one module per tab). Only the UI imports streamlit; the logic is in `assistant`."""
