/* Process params, release ids and artifact hashes (ssh_spec.h). */

#include "ssh_spec.h"

#include "base/alloc.h"
#include "base/run.h"
#include "base/parse.h"
#include "ssh_params.h"
#include "base/sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

void process_spec_release(struct process_spec *s)
{
	free(s->artifact);
	free(s->start);
	json_decref(s->env);
	free(s->health_http);
	free(s->health_cmd);
	free(s->route_host);
	free(s->route_prefix);
	memset(s, 0, sizeof(*s));
}

int process_spec_parse(struct process_spec *s, const char *params_json, const char *domain,
		       struct error *err)
{
	memset(s, 0, sizeof(*s));
	s->health_timeout_s = 30;
	s->drain_s = 3;
	s->env = json_object();
	json_error_t jerr;
	json_t *p = params_json ? json_loads(params_json, 0, &jerr) : NULL;
	int rc = -1;
	if (!p)
		error_set(err, "params: none given; they must be %s", process_params.expected);
	else if (params_check_rendered(&process_params, p, err) == 0 &&
		 params_build(&process_params, p, s, err) == 0)
		rc = 0;
	json_decref(p);
	if (s->routed && !s->route_host)
		s->route_host = xstrdup(domain ? domain : "localhost");
	if (s->routed && !s->route_prefix)
		s->route_prefix = xstrdup("/");
	if (rc < 0)
		process_spec_release(s);
	return rc;
}

void process_spec_rid(const struct process_spec *s, const char *artifact_hash, char rid[13])
{
	json_t *j = json_pack("{s:s, s:s, s:O, s:i, s:s?, s:s?}", "artifact", artifact_hash, "start",
			      s->start, "env", s->env, "port", s->port, "http", s->health_http, "cmd",
			      s->health_cmd);
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	unsigned char md[SHA256_SIZE];
	sha256(text, strlen(text), md);
	hex_encode(md, 6, rid);
	free(text);
	json_decref(j);
}

static int hash_file(const char *path, char hash[65], struct error *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return error_set(err, "artifact %s cannot be read: %s", path, strerror(errno));
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(md, sha256_md(), NULL);
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		EVP_DigestUpdate(md, buf, n);
	int bad = ferror(f);
	fclose(f);
	unsigned char out[EVP_MAX_MD_SIZE];
	unsigned len;
	EVP_DigestFinal_ex(md, out, &len);
	EVP_MD_CTX_free(md);
	if (bad)
		return error_set(err, "artifact %s cannot be read", path);
	hex_encode(out, SHA256_SIZE, hash);
	return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

int process_artifact_hash(const char *artifact, const char *dir, char hash[65], char **upload,
			  bool *tgz, struct error *err)
{
	*upload = NULL;
	*tgz = false;
	struct stat st;
	if (stat(artifact, &st) != 0)
		return error_set(err, "artifact %s: %s", artifact, strerror(errno));
	if (S_ISREG(st.st_mode)) {
		if (!ends_with(artifact, ".tar.gz") && !ends_with(artifact, ".tgz") &&
		    !ends_with(artifact, ".tar"))
			return error_set(err, "artifact %s must be a directory, a .tar.gz or a .tar file",
					 artifact);
		if (hash_file(artifact, hash, err) < 0)
			return -1;
		*tgz = !ends_with(artifact, ".tar");
		*upload = xstrdup(artifact);
		return 0;
	}
	if (!S_ISDIR(st.st_mode))
		return error_set(err, "artifact %s must be a directory, a .tar.gz or a .tar file", artifact);

	/* GNU tar makes the stream; the same tree gives the same bytes. */
	struct strbuf tmp = STRBUF_INIT;
	strbuf_addf(&tmp, "%s/artifact-XXXXXX", dir);
	int fd = mkostemp(tmp.buf, O_CLOEXEC);
	if (fd < 0) {
		error_set(err, "cannot create a file in %s: %s", dir, strerror(errno));
		strbuf_release(&tmp);
		return -1;
	}
	const char *argv[] = { "tar", "--sort=name", "--mtime=@0", "--owner=0", "--group=0",
			       "--numeric-owner", "--format=gnu",
			       "-cf", "-", "-C", artifact, "--", ".", NULL };
	struct run_spawn how = RUN_SPAWN_INIT;
	how.out = fd;
	pid_t pid;
	int rc = run_spawn(argv, &how, &pid);
	close(fd);
	if (rc != 0 || run_wait(pid) != 0) {
		unlink(tmp.buf);
		strbuf_release(&tmp);
		return error_set(err, "artifact %s: tar failed%s%s", artifact, rc ? ": " : "",
				 rc ? strerror(rc) : "");
	}
	/* one stored copy per content: the name is the hash */
	if (hash_file(tmp.buf, hash, err) < 0) {
		unlink(tmp.buf);
		strbuf_release(&tmp);
		return -1;
	}
	struct strbuf final = STRBUF_INIT;
	strbuf_addf(&final, "%s/artifact-%s.tar", dir, hash);
	if (rename(tmp.buf, final.buf) != 0) {
		error_set(err, "cannot store %s: %s", final.buf, strerror(errno));
		unlink(tmp.buf);
		strbuf_release(&tmp);
		strbuf_release(&final);
		return -1;
	}
	strbuf_release(&tmp);
	*upload = strbuf_detach(&final);
	return 0;
}
