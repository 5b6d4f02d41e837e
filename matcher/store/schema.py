"""The store's schema as SQL text, one numbered migration per version.

Written in SQL that SQLite and PostgreSQL both accept; the differences
(auto-increment keys, binary columns, 8-byte floats) are filled in per dialect.
"""

from __future__ import annotations

DIALECT_WORDS = {
    # rows copied with their ids: SQLite's AUTOINCREMENT follows by itself, PostgreSQL's sequence is set past them
    "sqlite": {"pk": "INTEGER PRIMARY KEY AUTOINCREMENT", "blob": "BLOB", "real": "REAL", "reset_outbox_ids": "SELECT 1",
               "reset_pipeline_ids": "SELECT 1"},
    # PostgreSQL's REAL is 4 bytes: a score would come back as 0.9782999753952026
    "postgresql": {"pk": "BIGSERIAL PRIMARY KEY", "blob": "BYTEA", "real": "DOUBLE PRECISION",
                   "reset_outbox_ids": "SELECT setval(pg_get_serial_sequence('outbox', 'id'),"
                                       " COALESCE((SELECT MAX(id) FROM outbox), 0) + 1, false)",
                   "reset_pipeline_ids": "SELECT setval(pg_get_serial_sequence('pipeline', 'id'),"
                                         " COALESCE((SELECT MAX(id) FROM pipeline), 0) + 1, false)"},
}

MIGRATIONS: list[list[str]] = [
    # 1: calls with change history, source health, vector cache, delivery outbox, matches, runs
    [
        """CREATE TABLE calls (
            id {pk},
            source TEXT NOT NULL,
            native_id TEXT NOT NULL,
            funder TEXT NOT NULL,
            title TEXT NOT NULL,
            text TEXT NOT NULL,
            url TEXT,
            language TEXT NOT NULL,
            identifier TEXT,
            programme TEXT,
            opens_at TEXT,
            deadlines TEXT NOT NULL,
            budget TEXT,
            eligibility TEXT,
            content_hash TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            gone_at TEXT,
            UNIQUE (source, native_id)
        )""",
        """CREATE TABLE call_events (
            id {pk},
            call_id INTEGER NOT NULL REFERENCES calls (id),
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            fields TEXT NOT NULL
        )""",
        "CREATE INDEX call_events_call ON call_events (call_id, at)",
        """CREATE TABLE source_state (
            source TEXT PRIMARY KEY,
            last_attempt TEXT,
            last_success TEXT,
            ok INTEGER,
            items INTEGER,
            error TEXT,
            warning TEXT,
            etag TEXT,
            last_modified TEXT
        )""",
        """CREATE TABLE vectors (
            model TEXT NOT NULL,
            text_hash TEXT NOT NULL,
            dim INTEGER NOT NULL,
            vector {blob} NOT NULL,
            PRIMARY KEY (model, text_hash)
        )""",
        """CREATE TABLE matches (
            city TEXT NOT NULL,
            call_id INTEGER NOT NULL REFERENCES calls (id),
            score {real} NOT NULL,
            need_id TEXT,
            passage TEXT,
            detail TEXT,
            computed_at TEXT NOT NULL,
            PRIMARY KEY (city, call_id)
        )""",
        """CREATE TABLE deliveries (
            id {pk},
            city TEXT NOT NULL,
            channel TEXT NOT NULL,
            call_id INTEGER NOT NULL REFERENCES calls (id),
            kind TEXT NOT NULL,
            score {real},
            need_id TEXT,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            sent_at TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            UNIQUE (city, channel, call_id, kind)
        )""",
        "CREATE INDEX deliveries_status ON deliveries (status, city, channel)",
        """CREATE TABLE runs (
            id {pk},
            started_at TEXT NOT NULL,
            finished_at TEXT,
            offline INTEGER NOT NULL,
            today TEXT NOT NULL,
            summary TEXT
        )""",
    ],
    # 2: consecutive source failures; one canonical call for a call reached through several sources
    [
        "ALTER TABLE source_state ADD COLUMN failures INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE calls ADD COLUMN canonical_id INTEGER REFERENCES calls (id)",
        "CREATE INDEX calls_identifier ON calls (identifier)",
    ],
    # 3: each call's eligibility terms, read once when the call is new or changed
    [
        "ALTER TABLE calls ADD COLUMN terms TEXT",
    ],
    # 4: the message that delivered a row; channels stopped by a permanent error
    [
        "ALTER TABLE deliveries ADD COLUMN message_ref TEXT",
        """CREATE TABLE channel_state (
            channel TEXT NOT NULL,
            city TEXT NOT NULL,
            error TEXT,
            blocked_at TEXT,
            PRIMARY KEY (channel, city)
        )""",
    ],
    # 5: a city's decisions on calls (buttons and `fundbot mark`), the latest one counts
    [
        """CREATE TABLE marks (
            id {pk},
            city TEXT NOT NULL,
            call_id INTEGER NOT NULL REFERENCES calls (id),
            mark TEXT NOT NULL,
            who TEXT,
            at TEXT NOT NULL
        )""",
        "CREATE INDEX marks_city_call ON marks (city, call_id, id)",
    ],
    # 6: when a delivery was last tried (transient failures back off)
    [
        "ALTER TABLE deliveries ADD COLUMN last_attempt TEXT",
    ],
    # 7: what each deadline is (stage 1, stage 2 by invitation, cut-off); the day the source last listed the call
    # (its evidence: a live fetch's day, a snapshot's date) — until now only the fetch's wall-clock stamp was known
    [
        "ALTER TABLE calls ADD COLUMN stages TEXT",
        "ALTER TABLE calls ADD COLUMN seen_on TEXT",
        "UPDATE calls SET seen_on = substr(last_seen, 1, 10)",
    ],
    # 8: the outbox with a typed kind, a dedupe key and a structured payload (until now 'change:<hash>',
    # 'reminder:<date>', 'joint:<group>' in kind and changed fields or cities in need_id); the old rows carried over
    [
        """CREATE TABLE outbox (
            id {pk},
            city TEXT NOT NULL,
            channel TEXT NOT NULL,
            call_id INTEGER NOT NULL REFERENCES calls (id),
            kind TEXT NOT NULL CHECK (kind IN ('suggestion', 'change', 'reminder', 'joint')),
            dedupe TEXT NOT NULL DEFAULT '',
            score {real},
            need_id TEXT,
            payload TEXT,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            sent_at TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            message_ref TEXT,
            last_attempt TEXT,
            UNIQUE (city, channel, call_id, kind, dedupe)
        )""",
        # the prefixes have fixed lengths ('change:' 7, 'reminder:' 9, 'joint:' 6); fields and city ids are
        # [a-z0-9_-] words (config checks city ids), so they go into JSON without escaping
        """INSERT INTO outbox (id, city, channel, call_id, kind, dedupe, score, need_id, payload, status, created_at,
                               sent_at, attempts, error, message_ref, last_attempt)
           SELECT id, city, channel, call_id,
               CASE WHEN kind LIKE 'change:%' THEN 'change' WHEN kind LIKE 'reminder:%' THEN 'reminder'
                    WHEN kind LIKE 'joint:%' THEN 'joint' ELSE kind END,
               CASE WHEN kind LIKE 'change:%' THEN substr(kind, 8) WHEN kind LIKE 'reminder:%' THEN substr(kind, 10)
                    WHEN kind LIKE 'joint:%' THEN substr(kind, 7) ELSE '' END,
               score,
               CASE WHEN kind = 'suggestion' THEN need_id END,
               CASE WHEN kind LIKE 'change:%' AND need_id IS NOT NULL
                        THEN '{{"fields": ["' || replace(need_id, ',', '", "') || '"]}}'
                    WHEN kind LIKE 'joint:%' AND need_id IS NOT NULL
                        THEN '{{"cities": ["' || replace(need_id, ',', '", "') || '"]}}' END,
               status, created_at, sent_at, attempts, error, message_ref, last_attempt
           FROM deliveries""",
        "{reset_outbox_ids}",
        "DROP TABLE deliveries",
        "CREATE INDEX outbox_status ON outbox (status, city, channel)",
    ],
    # 9: the pipeline — a status, an owner and a note per city and call, each change with who, when and how;
    # the older marks carried over as statuses (relevant → interesting, applying → preparing)
    [
        """CREATE TABLE pipeline (
            id {pk},
            city TEXT NOT NULL,
            call_id INTEGER NOT NULL REFERENCES calls (id),
            status TEXT NOT NULL CHECK (status IN ('new', 'interesting', 'preparing', 'submitted', 'granted',
                                                   'rejected', 'not-relevant')),
            owner TEXT,
            note TEXT,
            who TEXT,
            via TEXT NOT NULL DEFAULT 'mark',
            at TEXT NOT NULL
        )""",
        """INSERT INTO pipeline (id, city, call_id, status, who, via, at)
           SELECT id, city, call_id,
               CASE mark WHEN 'relevant' THEN 'interesting' WHEN 'applying' THEN 'preparing' ELSE 'not-relevant' END,
               who, 'mark', at
           FROM marks""",
        "{reset_pipeline_ids}",
        "DROP TABLE marks",
        "CREATE INDEX pipeline_city_call ON pipeline (city, call_id, id)",
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)
