/* A dataset's refresh (demos.h): snapshot, prepare on every docker cluster,
 * and the images of the snapshots `keep` pruned removed. */
#include "demos.h"

#include "engine/drivers/docker/docker_driver.h"
#include "engine/drivers/docker/docker_spec.h"
#include "engine/apply/revise.h"
#include "engine/snapshot/prepare.h"
#include "engine/snapshot/remote.h"

#include "base/alloc.h"
#include "base/strbuf.h"
#include "base/vec.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

int dataset_build(const struct resolution *r, const struct dataset *ds, char **out,
		  struct error *err)
{
	*out = NULL;
	if (ds->build) {
		*out = xstrdup(ds->build->s);
		return 0;
	}
	if (!ds->build_dependency)
		return 0;
	struct strbuf id = STRBUF_INIT;
	const char *loc = ds->build_dependency->s;
	if (strchr(loc, '/'))
		strbuf_adds(&id, loc);
	else
		strbuf_addf(&id, "%s/%s", ds->obj.ns->s, loc);
	const struct dep_result *dr = resolution_find_dep(r, strbuf_cstr(&id));
	int rc = -1;
	if (!dr || !dr->resolved) {
		error_set(err, "dataset %s/%s: build: dependency %s is not resolved (%s): its build is "
			       "unknown",
			  ds->obj.ns->s, ds->obj.name->s, strbuf_cstr(&id),
			  dr && dr->reason ? dr->reason : "absent");
		goto out;
	}
	bool runs = false;
	for (size_t i = 0; i < r->ninstances && !runs; i++) {
		const struct instance *in = r->instances[i];
		if (!instance_serves(in, strbuf_cstr(&id)) || !in->component || strcmp(in->component, ds->build_component->s) != 0)
			continue;
		runs = true;
		json_t *params = in->params_public ? json_loads(in->params_public->s, 0, NULL) : NULL;
		const char *image = json_string_value(json_object_get(params, "image"));
		if (image) {
			*out = xstrdup(docker_image_tag(image));
			rc = 0;
		} else {
			error_set(err, "dataset %s/%s: build: component %s of dependency %s has no image",
				  ds->obj.ns->s, ds->obj.name->s, ds->build_component->s,
				  strbuf_cstr(&id));
		}
		json_decref(params);
	}
	if (!runs)
		error_set(err, "dataset %s/%s: build: dependency %s runs no component %s",
			  ds->obj.ns->s, ds->obj.name->s, strbuf_cstr(&id), ds->build_component->s);
out:
	strbuf_release(&id);
	return rc;
}

/* Removes the images of snapshot id on d; one a container still uses (a
 * demo runs it) is kept and said so in notes. */
static void remove_images(struct docker *d, const char *cluster, const char *id,
			  struct strbuf *notes)
{
	struct snapshot_image *v;
	size_t n;
	struct error err = ERROR_INIT;
	if (snapshot_images(d, NULL, &v, &n, &err) < 0) {
		strbuf_addf(notes, "; cluster %s: %s", cluster, error_msg(&err));
		error_clear(&err);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].snapshot, id) != 0)
			continue;
		char *esc = curl_easy_escape(NULL, v[i].image, 0);
		struct strbuf path = STRBUF_INIT;
		strbuf_addf(&path, "/images/%s", esc);
		curl_free(esc);
		long status;
		if (docker_request(d, "DELETE", strbuf_cstr(&path), NULL, NULL, &status, &err) < 0) {
			strbuf_addf(notes, "; kept image %s on cluster %s (%s)", v[i].image, cluster,
				    status == 409 ? "a demo runs it" : error_msg(&err));
			error_clear(&err);
		}
		strbuf_release(&path);
	}
	snapshot_images_free(v, n);
}

/* Prepares snapshot res->id on cluster c's engine (the local one when c is
 * NULL), then removes the images of the snapshots pruned here and in the
 * bucket; what happened goes into notes. */
static int prepare_on(const struct cluster *c, const char *snapshots,
		      const struct snapshot_result *res, json_t *remote_pruned, struct strbuf *notes)
{
	const char *where = c ? c->obj.name->s : "local";
	struct docker *d = NULL;
	struct error err = ERROR_INIT;
	struct snapshot_prepare_result pr = { 0 };
	struct docker_options local = { 0 };
	struct snapshot_prepare_options po = { .store = snapshots };
	int rc = -1;
	if ((c ? docker_cluster_open(c, &d, &err) : docker_open(&d, &local, &err)) < 0 ||
	    snapshot_prepare(d, res->id, &po, &pr, &err) < 0) {
		strbuf_addf(notes, "; cluster %s: %s", where, error_msg(&err));
	} else {
		strbuf_addf(notes, "; prepared on cluster %s as %s (%.2f s)", where, pr.image,
			    pr.seconds);
		for (size_t k = 0; k < res->npruned; k++)
			remove_images(d, where, res->pruned[k], notes);
		size_t k;
		json_t *old;
		json_array_foreach(remote_pruned, k, old)
		remove_images(d, where, json_string_value(old), notes);
		rc = 0;
	}
	snapshot_prepare_result_release(&pr);
	error_clear(&err);
	docker_close(d);
	return rc;
}

int dataset_refresh(struct store *s, struct intern *in, const struct users *users,
		    const char *dataset, const char *snapshots, struct dataset_refreshed *out,
		    struct error *err)
{
	memset(out, 0, sizeof(*out));
	const char *slash = strchr(dataset, '/');
	if (!slash)
		return error_set(err, "dataset %s: not NAMESPACE/NAME", dataset);
	struct policy *pol = NULL;
	struct acl *acl = NULL;
	struct resolution *r = NULL;
	long long gen = 0;
	char *build = NULL;
	struct snapshot_result res = { 0 };
	struct snapshot_remote *remote = NULL;
	json_t *remote_pruned = NULL;
	struct strbuf notes = STRBUF_INIT;
	int rc = -1;
	if (revise_load_generation(s, in, 0, &pol, &gen, err) < 0)
		goto out;
	char ns[256];
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - dataset), dataset);
	const struct dataset *ds = (const struct dataset *)policy_get(pol, KIND_DATASET, ns, slash + 1);
	if (!ds) {
		error_set(err, "there is no dataset %s in generation %lld", dataset, gen);
		goto out;
	}
	acl = acl_new(pol);
	if (resolve_policy(&r, pol, users, acl, 0, err) < 0 || dataset_build(r, ds, &build, err) < 0)
		goto out;
	struct snapshot_options o = { .store = snapshots, .build = build, .generation = gen };
	/* A failed snapshot leaves nothing: the last good one stays the newest. */
	if (snapshot_create(ds, &o, &res, err) < 0)
		goto out;
	out->id = xstrdup(res.id);
	out->rows = res.rows;
	strbuf_addf(&notes, "snapshot %s: %lld rows, %.2f s", res.id, (long long)res.rows,
		    res.seconds);
	/* kept in S3 when the dataset says so; keep applies there too */
	if (snapshot_remote_open(&remote, ds, err) < 0 ||
	    (remote && snapshot_remote_publish(remote, snapshots, res.id, &remote_pruned, err) < 0)) {
		error_wrap(err, "%s", notes.buf);
		goto out;
	}
	if (remote)
		strbuf_addf(&notes, ", stored in %s", snapshot_remote_where(remote));
	/* Prepared wherever a demo may run: every docker cluster (the local
	 * engine when the policy has none). */
	VEC(const struct cluster *) clusters = { 0 };
	for (size_t i = 0; i < pol->len; i++) {
		const struct cluster *c = (const struct cluster *)pol->objects[i];
		if (pol->objects[i]->kind == KIND_CLUSTER && strcmp(c->type->s, "docker") == 0)
			vec_push(&clusters, c);
	}
	if (!clusters.len)
		vec_push(&clusters, NULL);
	size_t failed = 0;
	for (size_t i = 0; i < clusters.len; i++)
		failed += prepare_on(clusters.items[i], snapshots, &res, remote_pruned, &notes) < 0;
	size_t nclusters = clusters.len;
	vec_release(&clusters);
	for (size_t k = 0; k < res.npruned; k++)
		strbuf_addf(&notes, "; deleted snapshot %s (keep: %lld)", res.pruned[k],
			    (long long)ds->keep);
	size_t k;
	json_t *old;
	json_array_foreach(remote_pruned, k, old)
	strbuf_addf(&notes, "; deleted snapshot %s from %s (keep: %lld)", json_string_value(old),
		    snapshot_remote_where(remote), (long long)ds->keep);
	if (failed) {
		error_set(err, "%s (not prepared on %zu of %zu clusters: demos keep the snapshot they "
			       "have)",
			  notes.buf, failed, nclusters);
		goto out;
	}
	out->message = strbuf_detach(&notes);
	rc = 0;
out:
	strbuf_release(&notes);
	json_decref(remote_pruned);
	snapshot_remote_close(remote);
	snapshot_result_release(&res);
	free(build);
	resolution_free(r);
	acl_free(acl);
	policy_free(pol);
	return rc;
}

void dataset_refreshed_release(struct dataset_refreshed *r)
{
	free(r->id);
	free(r->message);
	memset(r, 0, sizeof(*r));
}
