// The system SQLite 3 for the durable queue. Used only from
// Sources/BitsStore/SQLiteDatabase.swift (scripts/check-interop.sh).
#ifndef BITS_CSQLITE_SHIM_H
#define BITS_CSQLITE_SHIM_H
#include <sqlite3.h>

// SQLITE_TRANSIENT is a macro with a cast Swift cannot import: SQLite copies the bound bytes.
static inline sqlite3_destructor_type bits_sqlite_transient(void) { return SQLITE_TRANSIENT; }
#endif
