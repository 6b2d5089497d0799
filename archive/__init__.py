"""A searchable news archive: hybrid keyword + semantic search with highlighted evidence."""

from .archive import MAX_K, MAX_QUERY_CHARACTERS, MAX_RESULT_WINDOW, MODES, SORTS, Archive
from .errors import ArchiveError

__all__ = ["Archive", "ArchiveError", "MAX_K", "MAX_QUERY_CHARACTERS", "MAX_RESULT_WINDOW", "MODES", "SORTS"]
