/* The GitHub webhook and the previews config on a real SQLite store (jobs
 * queued, not run): signatures, de-duplication, who may trigger, forks,
 * closed PRs, malformed bodies; host names; config errors with positions. */
#include "engine/previews/previews_internal.h"

#include "base/strbuf.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];
static char path_db[128], path_users[128], path_config[128];
static const char secret[] = "It's a Secret to Everybody";

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

static void write_file(const char *name, const char *text, char *out, size_t outlen)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	if (out)
		snprintf(out, outlen, "%s", path);
}

static void setup(void)
{
	strcpy(dir, "/tmp/cairn-webhook-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path_db, sizeof(path_db), "%s/state.db", dir);
	write_file("users.yaml", "- {name: ci-bot}\n", path_users, sizeof(path_users));
	write_file("webhook-secret", "It's a Secret to Everybody\n", NULL, 0);
	write_file("token", "ghp_test\n", NULL, 0);
	write_file("config.yaml",
		   "listen: 127.0.0.1:8080\n" /* the server's: ignored here */
		   "github:\n"
		   "  api_url: http://127.0.0.1:9/\n"
		   "  token_file: token\n"
		   "  webhook_secret_file: webhook-secret\n"
		   "domain: Preview.Example.Test\n"
		   "repositories:\n"
		   "  - name: acme/shop\n"
		   "    contract: main/shop\n"
		   "    user: ci-bot\n"
		   "    ttl: 72h\n",
		   path_config, sizeof(path_config));
}

static void teardown(void)
{
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(webhook, .init = setup, .fini = teardown, .timeout = 30);

static void sign(const char *body, char *out)
{
	unsigned char md[32];
	unsigned int n = 0;
	HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, strlen(body), md,
	     &n);
	strcpy(out, "sha256=");
	for (unsigned i = 0; i < n; i++)
		sprintf(out + 7 + 2 * i, "%02x", md[i]);
}

struct fixture {
	struct previews_config *c;
	struct jobs *jobs;
	struct previews *p;
	struct store *s;
};

static struct fixture open_fixture(void)
{
	struct fixture f = { 0 };
	struct diags d = DIAGS_INIT;
	cr_assert_eq(previews_config_load(&f.c, path_config, &d), 0, "%s", d.len ? d.items[0] : "");
	struct error err = ERROR_INIT;
	struct jobs_options jo = { .state = path_db };
	cr_assert_eq(jobs_new(&f.jobs, &jo, &err), 0, "%s", error_msg(&err));
	struct previews_env env = { .state = path_db, .users_path = path_users, .jobs = f.jobs };
	cr_assert_eq(previews_new(&f.p, f.c, &env, &err), 0, "%s", error_msg(&err));
	cr_assert_eq(store_open(&f.s, path_db, &err), 0, "%s", error_msg(&err));
	return f;
}

static void close_fixture(struct fixture *f)
{
	store_close(f->s);
	previews_free(f->p);
	jobs_free(f->jobs);
	previews_config_free(f->c);
}

static char *pr_body(const char *action, int number, const char *sha, const char *association,
		     const char *head_repo, const char *labels, const char *label)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_addf(&sb,
		    "{\"action\": \"%s\", \"number\": %d, \"pull_request\": {\"number\": %d,"
		    " \"author_association\": \"%s\", \"user\": {\"login\": \"octocat\"},"
		    " \"labels\": [%s], \"head\": {\"sha\": \"%s\", \"ref\": \"feature/x\","
		    " \"repo\": {\"full_name\": \"%s\"}}, \"base\": {\"ref\": \"main\"}},"
		    " \"repository\": {\"full_name\": \"acme/shop\"}",
		    action, number, number, association, labels, sha, head_repo);
	if (label)
		strbuf_addf(&sb, ", \"label\": {\"name\": \"%s\"}", label);
	strbuf_addc(&sb, '}');
	return strbuf_detach(&sb);
}

/* Delivers body signed (or with the given signature); returns the status, *resp kept. */
static int deliver(struct fixture *f, const char *event, const char *id, const char *body,
		   const char *sig, char **resp)
{
	char good[80];
	sign(body, good);
	return previews_github_webhook(f->p, event, id, sig ? sig : good, body, strlen(body), resp);
}

static int count_job(void *ctx, const struct store_job *j)
{
	(*(int *)ctx)++;
	return 0;
}

static int jobs_in_store(struct fixture *f)
{
	int n = 0;
	struct error err = ERROR_INIT;
	cr_assert_eq(store_job_list(f->s, 0, count_job, &n, &err), 0);
	return n;
}

static const char sha1[] = "1111111111111111111111111111111111111111";

Test(webhook, signature_checked_before_anything)
{
	struct fixture f = open_fixture();
	char *body = pr_body("opened", 7, sha1, "MEMBER", "acme/shop", "", NULL), *resp = NULL;
	cr_expect_eq(deliver(&f, "pull_request", "d1", body, "", &resp), 401);
	cr_expect(strstr(resp, "\"rejected\"") != NULL, "%s", resp);
	free(resp);
	cr_expect_eq(previews_github_webhook(f.p, "pull_request", "d1", NULL, body, strlen(body), &resp),
		     401);
	cr_expect(strstr(resp, "missing X-Hub-Signature-256") != NULL, "%s", resp);
	free(resp);
	/* A signature of another body, and one with the right length but bad hex. */
	char other[80];
	sign("{}", other);
	cr_expect_eq(deliver(&f, "pull_request", "d1", body, other, &resp), 401);
	free(resp);
	cr_expect_eq(deliver(&f, "pull_request", "d1", body,
			     "sha256=zz11111111111111111111111111111111111111111111111111111111111111",
			     &resp),
		     401);
	free(resp);
	/* Not even malformed JSON is looked at without a signature. */
	cr_expect_eq(deliver(&f, "pull_request", "d2", "{not json", "sha256=00", &resp), 401);
	free(resp);
	cr_expect_eq(jobs_in_store(&f), 0);
	struct previews_stats st;
	previews_get_stats(f.p, &st);
	cr_expect_eq(st.rejected_signature, 5);
	cr_expect_eq(st.queued, 0);
	/* The same delivery id signed right is still fresh: rejections claim nothing. */
	cr_expect_eq(deliver(&f, "pull_request", "d1", body, NULL, &resp), 202, "%s", resp);
	free(resp);
	cr_expect_eq(jobs_in_store(&f), 1);
	free(body);
	close_fixture(&f);
}

Test(webhook, queued_job_carries_the_pull_request)
{
	struct fixture f = open_fixture();
	char *body = pr_body("opened", 7, sha1, "MEMBER", "acme/shop", "{\"name\": \"bug\"}", NULL);
	char *resp = NULL;
	cr_assert_eq(deliver(&f, "pull_request", "d1", body, NULL, &resp), 202, "%s", resp);
	cr_expect(strstr(resp, "\"queued\"") && strstr(resp, "\"job\": 1"), "%s", resp);
	free(resp);
	struct store_job j;
	bool found;
	struct error err = ERROR_INIT;
	cr_assert_eq(store_job_get(f.s, 1, &j, &found, &err), 0);
	cr_assert(found);
	cr_expect_str_eq(j.kind, "github-pr");
	cr_expect_str_eq(j.key, "pr:acme/shop#7");
	cr_expect(strstr(j.payload, "\"action\":\"opened\"") != NULL, "%s", j.payload);
	cr_expect(strstr(j.payload, "\"sha\":\"1111111111111111111111111111111111111111\"") != NULL);
	cr_expect(strstr(j.payload, "\"branch\":\"feature/x\"") != NULL);
	cr_expect(strstr(j.payload, "\"author\":\"octocat\"") != NULL);
	cr_expect(strstr(j.payload, "\"labels\":[\"bug\"]") != NULL);
	cr_expect(strstr(j.payload, "\"fork\":false") != NULL);
	store_job_release(&j);
	free(body);
	close_fixture(&f);
}

Test(webhook, replayed_delivery_is_a_duplicate)
{
	struct fixture f = open_fixture();
	char *body = pr_body("synchronize", 7, sha1, "OWNER", "acme/shop", "", NULL), *resp;
	cr_expect_eq(deliver(&f, "pull_request", "same", body, NULL, &resp), 202);
	free(resp);
	cr_expect_eq(deliver(&f, "pull_request", "same", body, NULL, &resp), 200);
	cr_expect(strstr(resp, "\"duplicate\"") != NULL, "%s", resp);
	free(resp);
	cr_expect_eq(jobs_in_store(&f), 1);
	free(body);
	close_fixture(&f);
}

/* The signature covers the body, not the delivery id: the same body under
 * a new id is a replay. */
Test(webhook, the_same_body_under_a_new_id_is_a_duplicate)
{
	struct fixture f = open_fixture();
	char *body = pr_body("synchronize", 7, sha1, "OWNER", "acme/shop", "", NULL), *resp;
	cr_expect_eq(deliver(&f, "pull_request", "first", body, NULL, &resp), 202);
	free(resp);
	cr_expect_eq(deliver(&f, "pull_request", "second", body, NULL, &resp), 200);
	cr_expect(strstr(resp, "\"duplicate\"") != NULL, "%s", resp);
	free(resp);
	cr_expect_eq(jobs_in_store(&f), 1);
	free(body);
	close_fixture(&f);
}

Test(webhook, updated_at_is_read_only_in_github_utc_form)
{
	static const struct {
		const char *value, *want;
	} cases[] = {
		{ "2026-01-01T10:00:00Z", "2026-01-01T10:00:00Z" },
		{ "2026-01-01T10:00:00+02:00", NULL },
		{ "2026-01-01 10:00:00Z", NULL },
		{ "2026-01-01T10:00:00Zx", NULL },
		{ "", NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char body[400];
		snprintf(body, sizeof(body),
			 "{\"action\": \"opened\", \"number\": 1, \"pull_request\": "
			 "{\"updated_at\": \"%s\"}, \"repository\": {\"full_name\": \"a/b\"}}",
			 cases[i].value);
		struct webhook_pr pr;
		struct error err = ERROR_INIT;
		cr_assert_eq(webhook_parse_pr(body, strlen(body), &pr, &err), 0, "%s", error_msg(&err));
		if (cases[i].want)
			cr_expect_str_eq(pr.updated_at, cases[i].want);
		else
			cr_expect_null(pr.updated_at, "%s", cases[i].value);
		webhook_pr_release(&pr);
	}
}

Test(webhook, ignored_and_malformed)
{
	struct fixture f = open_fixture();
	char *resp;
	cr_expect_eq(deliver(&f, "ping", "p1", "{\"zen\": \"x\"}", NULL, &resp), 200);
	cr_expect(strstr(resp, "pong") != NULL);
	free(resp);
	cr_expect_eq(deliver(&f, "push", "p2", "{}", NULL, &resp), 200);
	cr_expect(strstr(resp, "ignored") != NULL);
	free(resp);
	cr_expect_eq(deliver(&f, "pull_request", "p3", "{\"action\": ", NULL, &resp), 400);
	cr_expect(strstr(resp, "malformed JSON") != NULL, "%s", resp);
	free(resp);
	cr_expect_eq(deliver(&f, "pull_request", "p4", "[1, 2]", NULL, &resp), 400);
	free(resp);
	cr_expect_eq(deliver(&f, "pull_request", NULL, "{}", NULL, &resp), 400);
	free(resp);
	char *other = pr_body("opened", 1, sha1, "OWNER", "acme/shop", "", NULL);
	/* Another repository: same body, other name. */
	static const char at[] = "\"repository\": {\"full_name\": \"acme/";
	char *q = strstr(other, at);
	cr_assert_not_null(q);
	memcpy(q + strlen(at), "shoe", 4);
	cr_expect_eq(deliver(&f, "pull_request", "p5", other, NULL, &resp), 200);
	cr_expect(strstr(resp, "acme/shoe is not configured") != NULL, "%s", resp);
	free(resp);
	char *edited = pr_body("edited", 1, sha1, "OWNER", "acme/shop", "", NULL);
	cr_expect_eq(deliver(&f, "pull_request", "p6", edited, NULL, &resp), 200);
	cr_expect(strstr(resp, "ignored") != NULL);
	free(resp);
	cr_expect_eq(jobs_in_store(&f), 0);
	free(other);
	free(edited);
	close_fixture(&f);
}

Test(webhook, trigger_policy_and_forks)
{
	struct fixture f = open_fixture();
	char *resp;
	char *outsider = pr_body("opened", 3, sha1, "CONTRIBUTOR", "acme/shop", "", NULL);
	cr_expect_eq(deliver(&f, "pull_request", "t1", outsider, NULL, &resp), 200);
	cr_expect(strstr(resp, "CONTRIBUTOR may not trigger") != NULL, "%s", resp);
	free(resp);
	char *fork = pr_body("opened", 4, sha1, "COLLABORATOR", "eve/shop", "", NULL);
	cr_expect_eq(deliver(&f, "pull_request", "t2", fork, NULL, &resp), 200);
	cr_expect(strstr(resp, "waiting for label 'preview-approved'") != NULL, "%s", resp);
	free(resp);
	/* Another label changes nothing; the approval label triggers. */
	char *bug = pr_body("labeled", 4, sha1, "COLLABORATOR", "eve/shop", "{\"name\": \"bug\"}",
			    "bug");
	cr_expect_eq(deliver(&f, "pull_request", "t3", bug, NULL, &resp), 200);
	free(resp);
	cr_expect_eq(jobs_in_store(&f), 0);
	char *ok = pr_body("labeled", 4, sha1, "COLLABORATOR", "eve/shop",
			   "{\"name\": \"preview-approved\"}", "preview-approved");
	cr_expect_eq(deliver(&f, "pull_request", "t4", ok, NULL, &resp), 202, "%s", resp);
	free(resp);
	cr_expect_eq(jobs_in_store(&f), 1);
	free(outsider);
	free(fork);
	free(bug);
	free(ok);
	close_fixture(&f);
}

Test(webhook, late_synchronize_after_close_is_ignored)
{
	struct fixture f = open_fixture();
	char *resp;
	char *closed = pr_body("closed", 9, sha1, "MEMBER", "acme/shop", "", NULL);
	char *sync = pr_body("synchronize", 9, sha1, "MEMBER", "acme/shop", "", NULL);
	char *reopened = pr_body("reopened", 9, sha1, "MEMBER", "acme/shop", "", NULL);
	cr_expect_eq(deliver(&f, "pull_request", "c1", closed, NULL, &resp), 202);
	free(resp);
	cr_expect_eq(deliver(&f, "pull_request", "c2", sync, NULL, &resp), 200);
	cr_expect(strstr(resp, "pull request is closed") != NULL, "%s", resp);
	free(resp);
	cr_expect_eq(jobs_in_store(&f), 1);
	cr_expect_eq(deliver(&f, "pull_request", "c3", reopened, NULL, &resp), 202);
	free(resp);
	/* A new push (the same body again would be a replay). */
	char *push = pr_body("synchronize", 9, "2222222222222222222222222222222222222222", "MEMBER",
			     "acme/shop", "", NULL);
	cr_expect_eq(deliver(&f, "pull_request", "c4", push, NULL, &resp), 202);
	free(resp);
	free(push);
	/* reopened superseded the queued close, and the push superseded reopened. */
	struct store_job j;
	bool found;
	struct error err = ERROR_INIT;
	cr_assert_eq(store_job_get(f.s, 1, &j, &found, &err), 0);
	cr_expect_eq(j.status, STORE_JOB_CANCELLED);
	store_job_release(&j);
	free(closed);
	free(sync);
	free(reopened);
	close_fixture(&f);
}

Test(webhook, host_names_are_dns_safe)
{
	struct preview_repo r = { .name = "Acme/Shop_Front", .host = "{repo}-pr-{pr}.{domain}" };
	struct strbuf sb = STRBUF_INIT;
	preview_host(&r, "preview.example.test", 12, "x", &sb);
	cr_expect_str_eq(sb.buf, "shop-front-pr-12.preview.example.test");
	strbuf_reset(&sb);
	r.host = "{branch}.{owner}.{domain}";
	preview_host(&r, "example.test", 1, "Feature/Über.fix--", &sb);
	cr_expect_str_eq(sb.buf, "feature-ber-fix.acme.example.test");
	strbuf_reset(&sb);
	char longname[200] = "acme/";
	memset(longname + 5, 'a', 100);
	r.name = longname;
	r.host = "{repo}-pr-{pr}.{domain}";
	preview_host(&r, "example.test", 5, "x", &sb);
	const char *dot = strchr(sb.buf, '.');
	cr_assert_not_null(dot);
	cr_expect_eq(dot - sb.buf, 63, "%s", sb.buf);
	cr_expect_str_eq(dot, ".example.test");
	/* Two long names that share their first 54 bytes still differ. */
	struct strbuf other = STRBUF_INIT;
	preview_host(&r, "example.test", 6, "x", &other);
	cr_expect_str_neq(sb.buf, other.buf);
	strbuf_release(&sb);
	strbuf_release(&other);
}

Test(webhook, signature_function)
{
	char sig[80];
	sign("hello", sig);
	cr_expect(webhook_signature_ok(secret, strlen(secret), sig, "hello", 5));
	cr_expect(!webhook_signature_ok(secret, strlen(secret), sig, "hellO", 5));
	cr_expect(!webhook_signature_ok(secret, strlen(secret), sig + 1, "hello", 5));
	cr_expect(!webhook_signature_ok(NULL, 0, sig, "hello", 5));
	sig[10] = sig[10] == 'a' ? 'b' : 'a';
	cr_expect(!webhook_signature_ok(secret, strlen(secret), sig, "hello", 5));
}

static void expect_config_error(const char *text, const char *want)
{
	char path[256];
	write_file("bad.yaml", text, path, sizeof(path));
	struct previews_config *c = NULL;
	struct diags d = DIAGS_INIT;
	cr_expect_eq(previews_config_load(&c, path, &d), -1, "%s was accepted", text);
	cr_expect_null(c);
	struct strbuf all = STRBUF_INIT;
	for (size_t i = 0; i < d.len; i++)
		strbuf_addf(&all, "%s\n", d.items[i]);
	cr_expect(all.buf && strstr(all.buf, want) != NULL, "want '%s' in:\n%s", want,
		  all.buf ? all.buf : "(nothing)");
	strbuf_release(&all);
	diags_release(&d);
}

Test(webhook, config_errors_have_positions)
{
	expect_config_error("github:\n  api_url: http://x\n  tokenfile: token\n",
			    "bad.yaml:3:3: unknown key 'tokenfile' in github (did you mean 'token_file'?)");
	expect_config_error("github:\n  webhook_secret_file: nope\n",
			    "bad.yaml:2:24: github.webhook_secret_file");
	expect_config_error("github:\n  webhook_secret_file: webhook-secret\nrepositories:\n"
			    "  - name: acme\n    contract: main/shop\n    user: ci-bot\n",
			    "bad.yaml:4:11: repository name 'acme' must be owner/repo");
	expect_config_error("github:\n  webhook_secret_file: webhook-secret\nrepositories:\n"
			    "  - name: acme/shop\n    contract: main/shop\n    user: ci-bot\n"
			    "    host: \"{repo}.{dommain}\"\n",
			    "bad.yaml:7:11: host: unknown placeholder '{dommain}'");
	expect_config_error("github:\n  webhook_secret_file: webhook-secret\nrepositories:\n"
			    "  - name: acme/shop\n    contract: main/shop\n    user: ci-bot\n"
			    "    trigger: [OWNER, BOSS]\n",
			    "bad.yaml:7:22: trigger 'BOSS' is not an author association");
	expect_config_error("github:\n  webhook_secret_file: webhook-secret\nrepositories:\n"
			    "  - {name: acme/shop, contract: main/shop, user: ci-bot}\n"
			    "  - {name: acme/load, contract: main/load, user: ci-bot}\n",
			    "bad.yaml:5:5: repositories acme/shop and acme/load both put their previews "
			    "(pr-<n>) in namespace main: give one its own 'namespace'");
	expect_config_error("repositories:\n  - name: acme/shop\n    contract: main/shop\n"
			    "    user: ci-bot\n",
			    "github.webhook_secret_file is required");
	expect_config_error("expiry:\n  reap_interval: soon\n",
			    "bad.yaml:2:18: expiry.reap_interval 'soon' is not a positive duration");
}

Test(webhook, config_defaults)
{
	struct previews_config *c = NULL;
	struct diags d = DIAGS_INIT;
	cr_assert_eq(previews_config_load(&c, path_config, &d), 0);
	cr_expect_str_eq(c->api_url, "http://127.0.0.1:9");
	cr_expect_str_eq(c->token, "ghp_test");
	cr_expect_str_eq(c->domain, "preview.example.test");
	cr_assert_eq(c->nrepos, 1);
	const struct preview_repo *r = previews_config_repo(c, "ACME/shop");
	cr_assert_not_null(r);
	cr_expect_str_eq(r->ns, "main");
	cr_expect_str_eq(r->approval_label, "preview-approved");
	cr_expect_eq(r->ntrigger, 3);
	cr_expect_str_eq(r->ttl, "72h");
	cr_expect_eq(c->reap_ms, 10000);
	cr_expect_eq(c->sweep_ms, 300000);
	previews_config_free(c);
}

Test(webhook, unknown_repository_user_refused)
{
	write_file("users.yaml", "- {name: someone}\n", NULL, 0);
	struct previews_config *c = NULL;
	struct diags d = DIAGS_INIT;
	cr_assert_eq(previews_config_load(&c, path_config, &d), 0);
	struct jobs *j = NULL;
	struct error err = ERROR_INIT;
	struct jobs_options jo = { .state = path_db };
	cr_assert_eq(jobs_new(&j, &jo, &err), 0);
	struct previews_env env = { .state = path_db, .users_path = path_users, .jobs = j };
	struct previews *p = NULL;
	cr_expect_eq(previews_new(&p, c, &env, &err), -1);
	cr_expect(strstr(error_msg(&err), "user 'ci-bot' is not in the users file") != NULL, "%s",
		  error_msg(&err));
	error_clear(&err);
	jobs_free(j);
	previews_config_free(c);
}
