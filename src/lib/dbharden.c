/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * Hardened SQLite connections: see dbharden.h.
 */
#include "config.h"

#include <stddef.h>

#include <sqlite3.h>

#include "lib/dbharden.h"

int
db_harden(sqlite3 *db)
{
	static const int off[] = { SQLITE_DBCONFIG_TRUSTED_SCHEMA,
	    SQLITE_DBCONFIG_ENABLE_VIEW, SQLITE_DBCONFIG_ENABLE_TRIGGER };
	sqlite3_stmt *st;
	size_t i;
	int v = -1, r = -1;

	if (sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, &v) !=
	    SQLITE_OK || v != 1)
		return -1;
	for (i = 0; i < sizeof(off) / sizeof(off[0]); i++)
		if (sqlite3_db_config(db, off[i], 0, &v) != SQLITE_OK ||
		    v != 0)
			return -1;
	if (sqlite3_exec(db, "PRAGMA mmap_size=0", NULL, NULL, NULL) !=
	    SQLITE_OK || sqlite3_prepare_v2(db, "PRAGMA mmap_size", -1, &st,
	    NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) == 0)
		r = 1;
	sqlite3_finalize(st);
	return r;
}
