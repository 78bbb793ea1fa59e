/* SPDX-License-Identifier: ISC */
/*
 * Copyright (c) 2026 The Estafeta developers
 *
 * For an SQLite file that a less trusted user can write (the queue index
 * and the users database, both owned by run_user and opened by root's
 * estafetactl and masters too): SQLITE_DBCONFIG_DEFENSIVE, trusted_schema
 * off (the schema in the file may not call functions with side effects),
 * views and triggers off (our schemas have none: a table turned into a
 * view fails, a planted trigger never runs), and no memory map (a map lets
 * a file changed or truncated by its owner fault the process or feed it
 * pages SQLite never checked). Each setting is read back.
 */
#ifndef EST_DBHARDEN_H
#define EST_DBHARDEN_H

struct sqlite3;

/* 1, or -1 when SQLite refuses one of the settings. */
int	 db_harden(struct sqlite3 *);

#endif
