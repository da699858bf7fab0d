"""The agreements' text search (ADR 13): what is searched, and the index on each backend."""

from __future__ import annotations

from tris.domain.values import Content

# The agreements' text search index (ADR 13): a GIN trigram index on PostgreSQL, an FTS5
# table with the trigram tokenizer on SQLite, which the query names.
SEARCH_INDEX = "rm_agreements_search"

# pg_trgm ships with PostgreSQL and is trusted (PostgreSQL 13+): whoever may create objects
# in the database may create it, and an extension that exists already needs no privilege.
# The runner creates the schema under an advisory lock, so processes starting together do
# not race on it. Without it TRIS refuses to start rather than search by a full scan.
REQUIRE_PG_TRGM = """DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN undefined_file OR insufficient_privilege THEN
    RAISE EXCEPTION USING
        ERRCODE = SQLSTATE,
        MESSAGE = 'TRIS needs the PostgreSQL extension pg_trgm (the agreements'' text '
            || 'search index): ' || SQLERRM,
        HINT = 'pg_trgm ships with PostgreSQL (in the contrib package on some systems); '
            || 'have a superuser run CREATE EXTENSION pg_trgm in this database, then start '
            || 'TRIS again.';
END
$$"""

SEARCH_INDEX_POSTGRES = (
    "CREATE INDEX IF NOT EXISTS rm_agreements_search ON rm_agreements "
    "USING gin (search_text gin_trgm_ops)"
)

# Which agreements hold a trigram, not where (detail=none): a quarter of the size, and
# enough to find the candidates that the query then checks with LIKE. The text itself
# stays in rm_agreements (external content); the rowid is the agreement's `seq`.
SEARCH_TABLE_SQLITE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS rm_agreements_search USING fts5(search_text, "
    "content='rm_agreements', content_rowid='seq', tokenize='trigram', detail='none')"
)

# Kept in step with every write to rm_agreements, in its transaction: events applied, a
# reset, a rebuild's stage written back. An external-content table is told a row's old
# values to remove it.
_SEARCH_ADD = (
    "INSERT INTO rm_agreements_search (rowid, search_text) VALUES (new.seq, new.search_text);"
)
_SEARCH_REMOVE = (
    "INSERT INTO rm_agreements_search (rm_agreements_search, rowid, search_text) "
    "VALUES ('delete', old.seq, old.search_text);"
)
SEARCH_TRIGGERS_SQLITE = (
    "CREATE TRIGGER IF NOT EXISTS rm_agreements_search_insert AFTER INSERT ON rm_agreements "
    f"BEGIN {_SEARCH_ADD} END",
    "CREATE TRIGGER IF NOT EXISTS rm_agreements_search_delete AFTER DELETE ON rm_agreements "
    f"BEGIN {_SEARCH_REMOVE} END",
    "CREATE TRIGGER IF NOT EXISTS rm_agreements_search_update "
    "AFTER UPDATE OF seq, search_text ON rm_agreements "
    "WHEN old.seq IS NOT new.seq OR old.search_text IS NOT new.search_text "
    f"BEGIN {_SEARCH_REMOVE} {_SEARCH_ADD} END",
)

# A store that had agreements before the table existed (or out of step with it) gets it
# filled from rm_agreements at start; otherwise this only counts.
SEARCH_FILL_SQLITE = (
    "INSERT INTO rm_agreements_search (rm_agreements_search) SELECT 'rebuild' "
    "WHERE (SELECT COUNT(*) FROM rm_agreements_search_docsize) "
    "<> (SELECT COUNT(*) FROM rm_agreements)"
)


def search_text(content: Content) -> str:
    """The text `q` searches: title and purpose, case-folded."""
    return f"{content.title}\n{content.purpose}".casefold()
