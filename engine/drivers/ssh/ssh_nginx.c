/* nginx configuration text for ssh-cluster instances (ssh_nginx.h). Only
 * validated names, hosts and prefixes reach the text: nothing from a policy
 * can add a directive. */
#include "ssh_nginx.h"

#include "base/alloc.h"
#include "base/sha256.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

void nginx_files_release(struct nginx_files *f)
{
	for (size_t i = 0; i < f->len; i++) {
		free(f->path[i]);
		free(f->text[i]);
	}
	f->len = 0;
}

static void add_file(struct nginx_files *f, struct strbuf *path, struct strbuf *text)
{
	f->path[f->len] = strbuf_detach(path);
	f->text[f->len] = strbuf_detach(text);
	f->len++;
}

/* nginx names allow '_' but not '-'. */
static void add_upstream_name(struct strbuf *sb, const char *inst, const char *rid8)
{
	strbuf_adds(sb, "cairn_");
	for (const char *c = inst; *c; c++)
		strbuf_addc(sb, *c == '-' ? '_' : *c);
	if (rid8)
		strbuf_addf(sb, "_%.8s", rid8);
}

static const char proxy_common[] =
	"\t\tproxy_http_version 1.1;\n"
	"\t\tproxy_set_header Connection \"\";\n"
	"\t\tproxy_set_header Host $host;\n"
	"\t\tproxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
	"\t\tproxy_set_header X-Forwarded-Proto $scheme;\n"
	"\t\tproxy_next_upstream error timeout;\n";

void ssh_nginx_files(struct nginx_files *out, const char *root, const char *inst,
		     const char *host, const char *prefix, const struct nginx_backend *b, size_t nb)
{
	memset(out, 0, sizeof(*out));
	struct strbuf path = STRBUF_INIT, text = STRBUF_INIT;

	strbuf_addf(&text, "# cairn: instance %s (generated; changed by cairn only)\n", inst);
	bool live = false;
	for (size_t i = 0; i < nb; i++)
		live = live || b[i].weight > 0;
	if (live) {
		strbuf_adds(&text, "upstream ");
		add_upstream_name(&text, inst, NULL);
		strbuf_adds(&text, " {\n");
		for (size_t i = 0; i < nb; i++)
			if (b[i].weight > 0)
				strbuf_addf(&text, "\tserver %s weight=%d max_fails=0;\n", b[i].listen,
					    b[i].weight);
		strbuf_adds(&text, "\tkeepalive 16;\n}\n");
	}
	for (size_t i = 0; i < nb; i++) {
		strbuf_adds(&text, "upstream ");
		add_upstream_name(&text, inst, b[i].rid);
		strbuf_addf(&text, " {\n\tserver %s max_fails=0;\n}\n", b[i].listen);
	}
	strbuf_addf(&path, "up/%s.conf", inst);
	add_file(out, &path, &text);

	if (live) {
		strbuf_addf(&text,
			    "# cairn: routes of host %s (generated)\n"
			    "server {\n\tlisten 80;\n\tserver_name %s;\n\tinclude %s/nginx/loc/%s/*.conf;\n}\n",
			    host, host, root, host);
		strbuf_addf(&path, "srv/%s.conf", host);
		add_file(out, &path, &text);

		strbuf_addf(&text, "# cairn: instance %s\nlocation %s {\n", inst, prefix);
		strbuf_adds(&text, "\t\tproxy_pass http://");
		add_upstream_name(&text, inst, NULL);
		/* a prefix other than / is stripped: the app serves from its root */
		strbuf_adds(&text, strcmp(prefix, "/") ? "/;\n" : ";\n");
		strbuf_addf(&text, "\t\tproxy_set_header X-Forwarded-Prefix %s;\n", prefix);
		strbuf_adds(&text, proxy_common);
		strbuf_adds(&text, "}\n");
		strbuf_addf(&path, "loc/%s/%s.conf", host, inst);
		add_file(out, &path, &text);
	}

	if (nb) {
		strbuf_addf(&text, "# cairn: previews of instance %s, one host name per release\n", inst);
		for (size_t i = 0; i < nb; i++) {
			strbuf_addf(&text, "server {\n\tlisten 80;\n\tserver_name %.8s.%s;\n", b[i].rid, host);
			strbuf_adds(&text, "\tlocation / {\n\t\tproxy_pass http://");
			add_upstream_name(&text, inst, b[i].rid);
			strbuf_adds(&text, ";\n");
			strbuf_adds(&text, proxy_common);
			strbuf_adds(&text, "\t}\n}\n");
		}
		strbuf_addf(&path, "srv/preview-%s.conf", inst);
		add_file(out, &path, &text);
	}
	strbuf_release(&path);
	strbuf_release(&text);
}

char *ssh_instance_name(const char *key)
{
	struct strbuf sb = STRBUF_INIT;
	/* the cluster (first part) is the same for every instance of a host */
	const char *s = strchr(key, '#');
	s = s ? s + 1 : key;
	bool dash = true;
	for (; *s && sb.len < 40; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c)) {
			strbuf_addc(&sb, (char)tolower(c));
			dash = false;
		} else if (!dash) {
			strbuf_addc(&sb, '-');
			dash = true;
		}
	}
	while (sb.len && sb.buf[sb.len - 1] == '-')
		strbuf_truncate(&sb, sb.len - 1);
	unsigned char md[SHA256_SIZE];
	sha256(key, strlen(key), md);
	char hex[9];
	hex_encode(md, 4, hex);
	strbuf_addf(&sb, "%s%s", sb.len ? "-" : "", hex);
	return strbuf_detach(&sb);
}

bool ssh_route_host_ok(const char *s)
{
	if (!*s || strlen(s) > 200 || *s == '.' || *s == '-')
		return false;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '.'))
			return false;
	return true;
}

bool ssh_route_prefix_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 200 || s[0] != '/' || s[n - 1] != '/')
		return false;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || strchr("/-._~", *s)))
			return false;
	return true;
}
