/* `cairn --server URL ...`: the policy commands, plan, status and explain
 * sent to a cairn server, printing what the local command prints (the
 * server renders text with the same functions, or answers the same JSON)
 * with the same exit codes. Files of `policy apply -f` go as one multipart
 * request, a part per file named by its path, so positions in refusals name
 * the files as a local apply does. A stored generation is converged by the
 * server's reconcile job, which the command waits for. */
#include "remote.h"
#include "cli.h"

#include "base/parse.h"
#include "base/alloc.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	strbuf_add(ctx, data, size * n);
	return size * n;
}

/* Header lines are not NUL-terminated: copy what is needed. */
static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
	struct remote_reply *r = ctx;
	size_t len = size * n;
	static const char job[] = "x-cairn-job:", problem[] = "x-cairn-problem:";
	if (len > sizeof(job) - 1 && strncasecmp(data, job, sizeof(job) - 1) == 0) {
		char buf[32];
		size_t k = len - (sizeof(job) - 1);
		if (k >= sizeof(buf))
			k = sizeof(buf) - 1;
		memcpy(buf, data + sizeof(job) - 1, k);
		buf[k] = '\0';
		r->job = strtoll(buf, NULL, 10);
	} else if (len > sizeof(problem) - 1 && strncasecmp(data, problem, sizeof(problem) - 1) == 0) {
		const char *v = data + sizeof(problem) - 1;
		size_t k = len - (sizeof(problem) - 1);
		while (k && *v == ' ')
			v++, k--;
		while (k && (v[k - 1] == '\r' || v[k - 1] == '\n'))
			k--;
		strbuf_add(&r->problems, v, k);
		strbuf_addc(&r->problems, '\n');
	}
	return len;
}

void remote_reply_release(struct remote_reply *r)
{
	strbuf_release(&r->body);
	strbuf_release(&r->problems);
	memset(r, 0, sizeof(*r));
}

int remote_call(struct cli *cli, const char *path, curl_mime *mime, struct remote_reply *out)
{
	memset(out, 0, sizeof(*out));
	CURL *c = curl_easy_init();
	if (!c) {
		cli_error("cannot start an HTTP client");
		return -1;
	}
	struct strbuf url = STRBUF_INIT, auth = STRBUF_INIT;
	strbuf_adds(&url, cli->server);
	while (url.len && url.buf[url.len - 1] == '/')
		strbuf_truncate(&url, url.len - 1);
	strbuf_adds(&url, path);
	struct curl_slist *headers = NULL;
	if (cli->token && *cli->token) {
		strbuf_addf(&auth, "Authorization: Bearer %s", cli->token);
		headers = curl_slist_append(headers, auth.buf);
	}
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(c, CURLOPT_URL, url.buf);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &out->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 600L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (mime)
		curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
	CURLcode rc = curl_easy_perform(c);
	int ret = 0;
	if (rc != CURLE_OK) {
		cli_error("cannot reach the server at %s: %s", cli->server,
			  *errbuf ? errbuf : curl_easy_strerror(rc));
		ret = -1;
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	}
	curl_slist_free_all(headers);
	if (auth.buf)
		explicit_bzero(auth.buf, auth.len);
	strbuf_release(&auth);
	strbuf_release(&url);
	curl_easy_cleanup(c);
	return ret;
}

/* The "error" of a JSON error body, or the body itself. */
static char *error_text(const struct remote_reply *r)
{
	json_t *doc = json_loads(r->body.buf ? r->body.buf : "", 0, NULL);
	const char *e = doc ? json_string_value(json_object_get(doc, "error")) : NULL;
	char *out = xstrdup(e ? e : r->body.buf && r->body.len ? r->body.buf : "no message");
	json_decref(doc);
	return out;
}

/* The diagnostics of a refusal answer, as the local command has them. */
static void reply_diagnostics(const struct remote_reply *r, struct diags *out)
{
	json_t *doc = json_loads(r->body.buf ? r->body.buf : "", 0, NULL);
	json_t *d = doc ? json_object_get(doc, "diagnostics") : NULL;
	size_t i;
	json_t *v;
	json_array_foreach(d, i, v)
		if (json_is_string(v))
			diags_add(out, "%s", json_string_value(v));
	json_decref(doc);
}

/* The exit code of an answer that is not a success, after saying why. */
static int failure(struct cli *cli, const struct remote_reply *r, const char *what)
{
	char *msg = error_text(r);
	int rc = EXIT_FAILURE_;
	if (r->status == 401) {
		if (cli->token && *cli->token)
			cli_error("token rejected by %s%s%s: run cairn token create", cli->server,
				  strcmp(msg, "token rejected") == 0 ? "" : ": ",
				  strcmp(msg, "token rejected") == 0 ? "" : msg);
		else
			cli_error("%s needs a token: pass --token or set CAIRN_TOKEN (cairn token create makes one)",
				  cli->server);
	} else if (r->status == 403 || r->status == 422) {
		struct diags d = DIAGS_INIT;
		reply_diagnostics(r, &d);
		if (d.len && what)
			cli_refused(cli, what, &d);
		else
			cli_error("%s", msg);
		diags_release(&d);
		rc = EXIT_REFUSED;
	} else {
		cli_error("%s", msg);
	}
	free(msg);
	return rc;
}

/* Prints a successful answer: text as it came, JSON with a newline. */
static void print_body(struct cli *cli, const struct remote_reply *r)
{
	const char *b = r->body.buf ? r->body.buf : "";
	if (cli->json)
		cli_print_json(b);
	else
		fputs(b, stdout);
}

static int get_and_print(struct cli *cli, const char *path)
{
	struct strbuf p = STRBUF_INIT;
	strbuf_addf(&p, "%s%sformat=%s", path, strchr(path, '?') ? "&" : "?",
		    cli->json ? "json" : "text");
	struct remote_reply r;
	int rc = EXIT_FAILURE_;
	if (remote_call(cli, p.buf, NULL, &r) == 0) {
		if (r.status == 200) {
			print_body(cli, &r);
			rc = EXIT_DONE;
		} else {
			rc = failure(cli, &r, NULL);
		}
		/* What `cairn status` says on stderr about clusters it cannot see. */
		if (r.problems.len)
			for (char *line = r.problems.buf, *nl; (nl = strchr(line, '\n')); line = nl + 1)
				cli_error("%.*s", (int)(nl - line), line);
	}
	remote_reply_release(&r);
	strbuf_release(&p);
	return rc;
}

/* ---- policy apply and delete ---- */

struct parts {
	curl_mime *mime;
	struct diags *diags;
};

/* One multipart part per file, named by its path so refusals name it. */
static void add_part(void *ctx, const char *path)
{
	struct parts *p = ctx;
	struct strbuf text = STRBUF_INIT;
	if (strbuf_read_file(&text, path) < 0) {
		diags_add(p->diags, "%s: cannot read: %s", path, strerror(errno));
		strbuf_release(&text);
		return;
	}
	curl_mimepart *part = curl_mime_addpart(p->mime);
	curl_mime_name(part, "file");
	curl_mime_filename(part, path);
	curl_mime_type(part, "application/yaml");
	curl_mime_data(part, text.buf ? text.buf : "", text.len);
	strbuf_release(&text);
}

static bool terminal(const char *status)
{
	return strcmp(status, "done") == 0 || strcmp(status, "failed") == 0 ||
	       strcmp(status, "cancelled") == 0;
}

/* Waits for the reconcile job; *doc gets its last JSON. Returns the exit code. */
static int wait_job(struct cli *cli, long long id, json_t **doc)
{
	char path[64];
	snprintf(path, sizeof(path), "/api/v1/jobs/%lld", id);
	int last_attempts = 0;
	bool said_waiting = false;
	for (;;) {
		struct remote_reply r;
		if (remote_call(cli, path, NULL, &r) < 0)
			return EXIT_FAILURE_;
		if (r.status != 200) {
			int rc = failure(cli, &r, NULL);
			remote_reply_release(&r);
			return rc;
		}
		json_t *j = json_loads(r.body.buf, 0, NULL);
		remote_reply_release(&r);
		const char *status = j ? json_string_value(json_object_get(j, "status")) : NULL;
		if (!status) {
			json_decref(j);
			cli_error("the server answered a job without a status");
			return EXIT_FAILURE_;
		}
		const char *msg = json_string_value(json_object_get(j, "message"));
		if (terminal(status)) {
			if (!cli->json)
				printf("reconcile job %lld: %s%s%s\n", id, status, msg ? ": " : "",
				       msg ? msg : "");
			*doc = j;
			return strcmp(status, "failed") == 0 ? EXIT_FAILURE_ : EXIT_DONE;
		}
		int attempts = (int)json_integer_value(json_object_get(j, "attempts"));
		if (!cli->json && strcmp(status, "queued") == 0 && attempts > last_attempts && msg)
			fprintf(stderr, "cairn: reconcile job %lld: attempt %d did not succeed, the server retries: %s\n",
				id, attempts, msg);
		else if (!cli->json && !said_waiting)
			fprintf(stderr, "cairn: waiting for reconcile job %lld on %s…\n", id, cli->server);
		said_waiting = true;
		last_attempts = attempts;
		json_decref(j);
		struct timespec ts = { 0, 250 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

static bool positive(const char *s)
{
	long long v;
	return parse_positive(s, &v) == 0;
}

/* A policy apply, delete or rollback as the command line gives it. */
struct revise_args {
	const char *verb; /* "apply", "delete" or "rollback" */
	bool rollback, dry_run, no_apply;
	const char *user, *generation;
	size_t npaths; /* -f PATH given, each file a part of the body */
};

/* Reads the arguments, adding each policy file to parts; -1 after saying
 * what is wrong. */
static int read_revise_args(int argc, char **argv, struct revise_args *a, struct parts *parts)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--user") == 0 && i + 1 < argc)
			a->user = argv[++i];
		else if (strncmp(argv[i], "--user=", 7) == 0)
			a->user = argv[i] + 7;
		else if (!a->rollback && (strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--file") == 0) &&
			 i + 1 < argc)
			policy_each_file(argv[++i], add_part, parts, parts->diags), a->npaths++;
		else if (a->rollback && !a->generation && positive(argv[i]))
			a->generation = argv[i];
		else if (strcmp(argv[i], "--dry-run") == 0)
			a->dry_run = true;
		else if (strcmp(argv[i], "--no-apply") == 0)
			a->no_apply = true;
		else if (strcmp(argv[i], "--parallel") == 0 || strcmp(argv[i], "--timeout") == 0 ||
			 strcmp(argv[i], "--attempts") == 0 || strcmp(argv[i], "--backoff") == 0 ||
			 strcmp(argv[i], "--no-wait") == 0) {
			cli_error("policy %s: %s is for local converges; with --server the server's reconcile job converges",
				  a->verb, argv[i]);
			return -1;
		} else {
			cli_error("policy %s: unexpected argument '%s' (see cairn policy %s --help)",
				  a->verb, argv[i], a->verb);
			return -1;
		}
	}
	if (a->rollback ? !a->generation : !a->npaths) {
		cli_error("policy %s needs %s (see cairn policy %s --help)", a->verb,
			  a->rollback ? "a generation number N" : "at least one -f PATH", a->verb);
		return -1;
	}
	return 0;
}

/* The API's path for the revision, with its query. */
static void revise_path(CURL *easy, const struct cli *cli, const struct revise_args *a,
			struct strbuf *path)
{
	bool apply = strcmp(a->verb, "apply") == 0;
	strbuf_addf(path, "/api/v1/policy%s%s?format=%s", apply ? "" : "/", apply ? "" : a->verb,
		    cli->json ? "json" : "text");
	if (a->rollback)
		strbuf_addf(path, "&generation=%s", a->generation);
	if (a->dry_run)
		strbuf_adds(path, "&dry_run=1");
	if (a->no_apply)
		strbuf_adds(path, "&apply=0");
	if (a->user) {
		char *esc = curl_easy_escape(easy, a->user, 0);
		strbuf_addf(path, "&user=%s", esc);
		curl_free(esc);
	}
}

/* Prints what the server stored and, when it queued a reconcile job,
 * follows the job to its end; with -o json one document, with the job as
 * it ended. */
static int print_revised(struct cli *cli, const struct remote_reply *r)
{
	if (!r->job) {
		print_body(cli, r);
		return EXIT_DONE;
	}
	if (!cli->json) {
		print_body(cli, r);
		fflush(stdout);
	}
	json_t *job = NULL;
	int rc = wait_job(cli, r->job, &job);
	if (cli->json) {
		json_t *doc = json_loads(r->body.buf, 0, NULL);
		if (doc && job)
			json_object_set(doc, "job", job);
		char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		cli_print_json(text ? text : r->body.buf);
		free(text);
		json_decref(doc);
	}
	json_decref(job);
	return rc;
}

static int remote_revise(struct cli *cli, int argc, char **argv)
{
	struct revise_args a = { .verb = argv[0], .rollback = strcmp(argv[0], "rollback") == 0 };
	CURL *easy = curl_easy_init();
	curl_mime *mime = curl_mime_init(easy);
	struct diags d = DIAGS_INIT;
	struct parts parts = { mime, &d };
	char what[32];
	snprintf(what, sizeof(what), "policy %s", a.verb);
	int rc = EXIT_USAGE;
	if (read_revise_args(argc, argv, &a, &parts) < 0)
		goto out;
	if (d.len) {
		rc = cli_refused(cli, what, &d);
		goto out;
	}
	struct strbuf path = STRBUF_INIT;
	revise_path(easy, cli, &a, &path);
	struct remote_reply r;
	rc = EXIT_FAILURE_;
	if (remote_call(cli, path.buf, mime, &r) == 0) {
		rc = r.status != 200 && r.status != 202 ? failure(cli, &r, what) : print_revised(cli, &r);
		remote_reply_release(&r);
	}
	strbuf_release(&path);
out:
	diags_release(&d);
	curl_mime_free(mime);
	curl_easy_cleanup(easy);
	return rc;
}

/* ---- the other commands ---- */

static int remote_policy(struct cli *cli, int argc, char **argv)
{
	if (argc < 2 || cli_wants_help(argc, argv))
		return CLI_LOCAL; /* usage */
	const char *sub = argv[1];
	if (strcmp(sub, "apply") == 0 || strcmp(sub, "delete") == 0 || strcmp(sub, "rollback") == 0)
		return remote_revise(cli, argc - 1, argv + 1);
	if (strcmp(sub, "log") == 0 && argc == 2)
		return get_and_print(cli, "/api/v1/revisions");
	if (strcmp(sub, "show") == 0 && (argc == 2 || (argc == 4 && strcmp(argv[2], "--generation") == 0 &&
						       positive(argv[3])))) {
		if (argc == 2)
			return get_and_print(cli, "/api/v1/revisions/latest");
		char path[64];
		snprintf(path, sizeof(path), "/api/v1/revisions/%s", argv[3]);
		return get_and_print(cli, path);
	}
	if (strcmp(sub, "diff") == 0 && argc == 4 && positive(argv[2]) && positive(argv[3])) {
		char path[96];
		snprintf(path, sizeof(path), "/api/v1/revisions/%s/diff?from=%s", argv[3], argv[2]);
		return get_and_print(cli, path);
	}
	/* Anything else is a usage error: the local command says which. */
	return CLI_LOCAL;
}

int cmd_remote(struct cli *cli, int argc, char **argv)
{
	const char *cmd = argv[0];
	if (strcmp(cmd, "apply") == 0 || strcmp(cmd, "logs") == 0) {
		cli_error("%s runs where the engine runs, not with --server: the server converges after "
			  "each policy change (its jobs: GET /api/v1/jobs)", cmd);
		return EXIT_USAGE;
	}
	if (strcmp(cmd, "policy") == 0)
		return remote_policy(cli, argc, argv);
	if (cli_wants_help(argc, argv))
		return CLI_LOCAL;
	if ((strcmp(cmd, "plan") == 0 || strcmp(cmd, "status") == 0) && argc == 1)
		return get_and_print(cli, strcmp(cmd, "plan") == 0 ? "/api/v1/plan" : "/api/v1/status");
	if (strcmp(cmd, "explain") == 0 && argc == 2 && strchr(argv[1], '/')) {
		CURL *easy = curl_easy_init();
		char *esc = easy ? curl_easy_escape(easy, argv[1], 0) : NULL;
		struct strbuf p = STRBUF_INIT;
		strbuf_addf(&p, "/api/v1/explain?dependency=%s", esc ? esc : argv[1]);
		curl_free(esc);
		curl_easy_cleanup(easy);
		int rc = get_and_print(cli, p.buf);
		strbuf_release(&p);
		return rc;
	}
	/* Usage and help, printed by the local command before it opens anything. */
	return CLI_LOCAL;
}
