/* Anonymization: deterministic transformers keyed by HMAC-SHA256, so the
 * same input gives the same output in every table and every run with the
 * same key, and another key other output. The value and the transformer's
 * name go into the HMAC, not the column: an email is the same fake email
 * wherever it appears. Columns under a unique constraint (or primary key)
 * retry collisions deterministically, and a column that references an
 * anonymized one through a foreign key gets the same transformer, sharing
 * its memory of outputs, so references still match. Internal to
 * engine/snapshot. */
#ifndef CAIRN_SNAPSHOT_ANON_H
#define CAIRN_SNAPSHOT_ANON_H

#include "catalog.h"
#include "policy/policy.h"

struct sn_transform;

/* One transformer (rule a) with key; unique: outputs never repeat for
 * different inputs. NULL with err when the rule cannot be compiled. */
struct sn_transform *sn_transform_new(const struct dataset_anon *a, const unsigned char *key,
				      size_t keylen, bool unique, struct error *err);
void sn_transform_free(struct sn_transform *t);
/* Transforms one value (its text form; NULL for SQL NULL): *out is the
 * result, valid until the next call on t, or NULL for SQL NULL. -1 with err
 * when the value cannot be transformed (a date_shift of a non-date). */
int sn_transform_apply(struct sn_transform *t, const char *value, const char **out,
		       struct error *err);

/* The transformers of a dataset over the source's catalog. */
struct sn_anonymizer;

/* Resolves every `anonymize` column (an error names a missing table or
 * column and the nearest existing one), extends each to the columns that
 * reference it, and adds a warning to warnings for each text column of a
 * table with anonymized columns that has no rule: personal data in free
 * text should not be missed silently. */
int sn_anonymizer_new(const struct dataset *ds, const struct sn_catalog *c,
		      const unsigned char *key, size_t keylen, struct sn_anonymizer **out,
		      struct diags *warnings, struct error *err);
void sn_anonymizer_free(struct sn_anonymizer *a);
/* The transformer of a column, or NULL when it is copied as it is. */
struct sn_transform *sn_anonymizer_column(const struct sn_anonymizer *a, size_t table, size_t col);

#endif
