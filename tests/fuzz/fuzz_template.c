/* libFuzzer target for templates: compiles arbitrary text and renders it
 * against a fixed scope (labels, user, secrets, a discovery tree with a
 * fallback overlay). Checks that every failure carries a message and that a
 * failed render leaves the output buffer as it was. */
#include "policy/template.h"

#include "base/strbuf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A fresh pool per input, so names interned by the fuzzer do not pile up. */
	struct intern *in = intern_new();
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';

	struct labels labels = LABELS_INIT, user_labels = LABELS_INIT, secrets = LABELS_INIT;
	labels_set(&labels, intern_cstr(in, "tagname"), intern_cstr(in, "tagvalue"));
	labels_set(&labels, intern_cstr(in, "cluster"), intern_cstr(in, "us-east"));
	labels_set(&labels, intern_cstr(in, "empty"), intern_cstr(in, ""));
	labels_set(&labels, intern_cstr(in, "n"), intern_cstr(in, "3"));
	labels_set(&user_labels, intern_cstr(in, "team"), intern_cstr(in, "platform_services"));
	labels_set(&secrets, intern_cstr(in, "appKey"), intern_cstr(in, "Alice_appKey"));

	struct dnode url = { .text = "kafka:9092" }, inst = { .text = "k1" }, id = { .text = "809877119" };
	struct dnode_entry kafka_e[] = { { intern_cstr(in, "url"), &url }, { intern_cstr(in, "instance"), &inst } };
	struct dnode kafka = { .entries = kafka_e, .len = 2, .cap = 2 };
	struct dnode_entry tree_e[] = { { intern_cstr(in, "kafka"), &kafka }, { intern_cstr(in, "instance"), &inst } };
	struct dnode tree = { .entries = tree_e, .len = 2, .cap = 2 };
	struct dnode_entry view_e[] = { { intern_cstr(in, "instanceId"), &id }, { intern_cstr(in, "instance"), &inst } };
	struct dnode view = { .entries = view_e, .len = 2, .cap = 2, .fallback = &tree };

	struct template_scope scope = {
		.labels = &labels,
		.user_name = "Alice",
		.user_labels = &user_labels,
		.user_secrets = (size & 1) ? &secrets : NULL,
		.discovery = &view,
	};

	struct template *t = NULL;
	struct error err = ERROR_INIT;
	struct strbuf out = STRBUF_INIT;
	if (template_compile(&t, in, text, &err) == 0) {
		check(t != NULL && strcmp(template_text(t), text) == 0);
		strbuf_adds(&out, "keep");
		int rc = template_render(t, &scope, &out, &err);
		check(strncmp(out.buf, "keep", 4) == 0);
		if (rc < 0)
			check(err.msg != NULL && out.len == 4);
		if (rc == 0 && template_is_constant(t))
			check(strcmp(out.buf + 4, text) == 0);
		template_free(t);
	} else {
		check(t == NULL && err.msg != NULL);
	}
	error_clear(&err);
	strbuf_release(&out);
	labels_release(&labels);
	labels_release(&user_labels);
	labels_release(&secrets);
	free(text);
	intern_free(in);
	return 0;
}
