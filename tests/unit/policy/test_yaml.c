/* The YAML layer: positioned nodes, refused constructs (duplicate keys,
 * aliases, non-scalar keys), syntax errors, core-schema typing, JSON output. */
#include "policy/yaml.h"

#include "base/arena.h"
#include "base/strbuf.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

struct parsed {
	struct arena *a;
	struct intern *in;
	struct ynode **docs;
	size_t ndocs;
	struct diags d;
	int rc;
};

static void parse(struct parsed *p, const char *text)
{
	p->a = arena_new();
	p->in = intern_new();
	p->d = (struct diags)DIAGS_INIT;
	p->rc = yaml_parse(p->a, p->in, "t.yaml", text, strlen(text), &p->docs, &p->ndocs, &p->d);
	for (size_t i = 0; i < p->d.len; i++)
		cr_log_info("%s", p->d.items[i]);
}

static void done(struct parsed *p)
{
	diags_release(&p->d);
	arena_free(p->a);
	intern_free(p->in);
}

Test(yaml, positions_are_one_based)
{
	struct parsed p;
	parse(&p, "a: 1\nlist:\n  - x\n  - {k: v}\n");
	cr_assert_eq(p.rc, 0);
	cr_assert_eq(p.ndocs, 1);
	const struct ynode *root = p.docs[0];
	cr_assert_eq(root->kind, YNODE_MAP);
	cr_assert_eq(root->len, 2);
	cr_expect_eq(root->pairs[0].key_pos.line, 1);
	cr_expect_eq(root->pairs[0].key_pos.col, 1);
	cr_expect_eq(root->pairs[0].value->pos.col, 4);
	const struct ynode *list = ynode_get(root, "list");
	cr_assert_not_null(list);
	cr_assert_eq(list->kind, YNODE_SEQ);
	cr_assert_eq(list->len, 2);
	cr_expect_eq(list->items[0]->pos.line, 3);
	cr_expect_eq(list->items[0]->pos.col, 5);
	cr_expect_eq(list->items[1]->kind, YNODE_MAP);
	cr_expect_eq(list->items[1]->pos.line, 4);
	cr_expect_eq(list->items[1]->pos.col, 5);
	cr_expect_str_eq(list->items[1]->pos.file, "t.yaml");
	cr_expect_str_eq(ynode_get(list->items[1], "k")->str->s, "v");
	cr_expect_null(ynode_get(root, "missing"));
	cr_expect_null(ynode_get(list, "k"));
	done(&p);
}

Test(yaml, empty_text_has_no_documents)
{
	struct parsed p;
	parse(&p, "");
	cr_expect_eq(p.rc, 0);
	cr_expect_eq(p.ndocs, 0);
	done(&p);
	parse(&p, "# only a comment\n\n");
	cr_expect_eq(p.rc, 0);
	cr_expect_eq(p.ndocs, 0);
	done(&p);
}

Test(yaml, several_documents)
{
	struct parsed p;
	parse(&p, "a: 1\n---\n- b\n---\n");
	cr_assert_eq(p.rc, 0);
	cr_assert_eq(p.ndocs, 3);
	cr_expect_eq(p.docs[0]->kind, YNODE_MAP);
	cr_expect_eq(p.docs[1]->kind, YNODE_SEQ);
	cr_expect_eq(ynode_scalar(p.docs[2], NULL, NULL, NULL), YSCALAR_NULL);
	done(&p);
}

Test(yaml, syntax_error_names_position_and_stops)
{
	struct parsed p;
	parse(&p, "a: 1\nb: [1, 2\nc: 3\n");
	cr_expect_eq(p.rc, -1);
	cr_assert_eq(p.d.len, 1);
	cr_expect(strncmp(p.d.items[0], "t.yaml:", 7) == 0, "%s", p.d.items[0]);
	cr_expect(strstr(p.d.items[0], ": yaml: ") != NULL, "%s", p.d.items[0]);
	done(&p);

	parse(&p, "key: value\n  bad: indent\n");
	cr_expect_eq(p.rc, -1);
	cr_assert_eq(p.d.len, 1);
	cr_expect(strncmp(p.d.items[0], "t.yaml:2:", 9) == 0, "%s", p.d.items[0]);
	done(&p);
}

Test(yaml, duplicate_keys_are_refused_with_both_positions)
{
	struct parsed p;
	parse(&p, "a: 1\nb: 2\na: 3\n");
	cr_expect_eq(p.rc, -1);
	cr_assert_eq(p.d.len, 1);
	cr_expect_str_eq(p.d.items[0], "t.yaml:3:1: yaml: duplicate key 'a' (first at line 1, column 1)");
	done(&p);
}

Test(yaml, duplicate_keys_in_a_large_mapping)
{
	struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < 100; i++)
		strbuf_addf(&sb, "k%d: %d\n", i, i);
	strbuf_adds(&sb, "k57: again\n");
	struct parsed p;
	parse(&p, strbuf_cstr(&sb));
	cr_expect_eq(p.rc, -1);
	cr_assert_eq(p.d.len, 1);
	cr_expect(strstr(p.d.items[0], "t.yaml:101:1: yaml: duplicate key 'k57'") != NULL, "%s",
		  p.d.items[0]);
	done(&p);
	strbuf_release(&sb);
}

Test(yaml, aliases_and_anchors_are_refused)
{
	struct parsed p;
	parse(&p, "base: &b {x: 1}\nother: *b\n");
	cr_expect_eq(p.rc, -1);
	cr_assert_eq(p.d.len, 2);
	cr_expect(strstr(p.d.items[0], "t.yaml:1:7: ") && strstr(p.d.items[0], "aliases are not supported"),
		  "%s", p.d.items[0]);
	cr_expect(strstr(p.d.items[1], "t.yaml:2:8: ") && strstr(p.d.items[1], "aliases are not supported"),
		  "%s", p.d.items[1]);
	done(&p);
}

Test(yaml, non_scalar_keys_are_refused)
{
	struct parsed p;
	parse(&p, "? [a, b]\n: 1\nc: 2\n");
	cr_expect_eq(p.rc, -1);
	cr_assert_eq(p.d.len, 1);
	cr_expect(strstr(p.d.items[0], "t.yaml:1:3: yaml: mapping keys must be scalars, not a list"),
		  "%s", p.d.items[0]);
	cr_assert_eq(p.ndocs, 1);
	cr_expect_eq(p.docs[0]->len, 1, "the refused pair is dropped");
	done(&p);
}

static enum yscalar scalar_of(const char *text, int64_t *i, double *r, bool *b)
{
	struct parsed p;
	char buf[128];
	snprintf(buf, sizeof(buf), "v: %s\n", text);
	parse(&p, buf);
	cr_assert_eq(p.rc, 0, "%s", text);
	enum yscalar t = ynode_scalar(ynode_get(p.docs[0], "v"), i, r, b);
	done(&p);
	return t;
}

Test(yaml, core_schema_typing_of_plain_scalars)
{
	int64_t i = 0;
	double r = 0;
	bool b = false;
	const char *nulls[] = { "", "~", "null", "Null", "NULL" };
	for (size_t k = 0; k < 5; k++)
		cr_expect_eq(scalar_of(nulls[k], &i, &r, &b), YSCALAR_NULL, "%s", nulls[k]);
	const char *trues[] = { "true", "True", "TRUE" };
	const char *falses[] = { "false", "False", "FALSE" };
	for (size_t k = 0; k < 3; k++) {
		cr_expect_eq(scalar_of(trues[k], &i, &r, &b), YSCALAR_BOOL);
		cr_expect(b);
		cr_expect_eq(scalar_of(falses[k], &i, &r, &b), YSCALAR_BOOL);
		cr_expect_not(b);
	}
	cr_expect_eq(scalar_of("42", &i, &r, &b), YSCALAR_INT);
	cr_expect_eq(i, 42);
	cr_expect_eq(scalar_of("-7", &i, &r, &b), YSCALAR_INT);
	cr_expect_eq(i, -7);
	cr_expect_eq(scalar_of("0x1F", &i, &r, &b), YSCALAR_INT);
	cr_expect_eq(i, 31);
	cr_expect_eq(scalar_of("0o17", &i, &r, &b), YSCALAR_INT);
	cr_expect_eq(i, 15);
	cr_expect_eq(scalar_of("1.5", &i, &r, &b), YSCALAR_FLOAT);
	cr_expect_float_eq(r, 1.5, 1e-12);
	cr_expect_eq(scalar_of("-2e3", &i, &r, &b), YSCALAR_FLOAT);
	cr_expect_float_eq(r, -2000.0, 1e-9);
	cr_expect_eq(scalar_of(".5", &i, &r, &b), YSCALAR_FLOAT);
	cr_expect_eq(scalar_of(".inf", &i, &r, &b), YSCALAR_FLOAT);
	cr_expect(isinf(r) && r > 0);
	cr_expect_eq(scalar_of("-.Inf", &i, &r, &b), YSCALAR_FLOAT);
	cr_expect(isinf(r) && r < 0);
	cr_expect_eq(scalar_of(".NaN", &i, &r, &b), YSCALAR_FLOAT);
	cr_expect(isnan(r));
	/* YAML 1.1 spellings and look-alikes stay strings. */
	const char *strings[] = { "yes", "no", "on", "0x", "0b101", "1.2.3", "2026-12-01T00:00:00Z",
				  "12-invalid", "inf", "e5", "t" };
	for (size_t k = 0; k < sizeof(strings) / sizeof(*strings); k++)
		cr_expect_eq(scalar_of(strings[k], &i, &r, &b), YSCALAR_STRING, "%s", strings[k]);
}

Test(yaml, quoted_scalars_are_strings)
{
	const char *quoted[] = { "'42'", "\"true\"", "''", "\"null\"", "!!str 5" };
	for (size_t k = 0; k < 5; k++)
		cr_expect_eq(scalar_of(quoted[k], NULL, NULL, NULL), YSCALAR_STRING, "%s", quoted[k]);
}

Test(yaml, describe_names_the_type)
{
	struct parsed p;
	parse(&p, "m: {}\nl: []\ns: x\ni: 1\nn: ~\nb: true\nf: 1.5\n");
	cr_assert_eq(p.rc, 0);
	cr_expect_str_eq(ynode_describe(ynode_get(p.docs[0], "m")), "a mapping");
	cr_expect_str_eq(ynode_describe(ynode_get(p.docs[0], "l")), "a list");
	cr_expect_str_eq(ynode_describe(ynode_get(p.docs[0], "s")), "a string");
	cr_expect_str_eq(ynode_describe(ynode_get(p.docs[0], "i")), "an integer");
	cr_expect_str_eq(ynode_describe(ynode_get(p.docs[0], "n")), "null");
	cr_expect_str_eq(ynode_describe(ynode_get(p.docs[0], "b")), "a boolean");
	cr_expect_str_eq(ynode_describe(ynode_get(p.docs[0], "f")), "a number");
	done(&p);
}

Test(yaml, json_keeps_order_and_types)
{
	struct parsed p;
	parse(&p, "z: 1\na: 'q\"uote'\nn: ~\nb: true\nf: 0.1\nl: [1, x, {}]\ne: []\nh: 0x10\ns: '10'\n");
	cr_assert_eq(p.rc, 0);
	struct strbuf sb = STRBUF_INIT;
	ynode_to_json(p.docs[0], &sb, -1);
	cr_expect_str_eq(strbuf_cstr(&sb),
			 "{\"z\":1,\"a\":\"q\\\"uote\",\"n\":null,\"b\":true,\"f\":0.1,"
			 "\"l\":[1,\"x\",{}],\"e\":[],\"h\":16,\"s\":\"10\"}");
	strbuf_release(&sb);
	done(&p);
}

Test(yaml, json_pretty_prints_with_indent)
{
	struct parsed p;
	parse(&p, "kind: service\nmetadata: {namespace: main, name: x}\nlist: [1, 2.0]\n");
	cr_assert_eq(p.rc, 0);
	struct strbuf sb = STRBUF_INIT;
	ynode_to_json(p.docs[0], &sb, 2);
	cr_expect_str_eq(strbuf_cstr(&sb), "{\n"
					   "  \"kind\": \"service\",\n"
					   "  \"metadata\": {\n"
					   "    \"namespace\": \"main\",\n"
					   "    \"name\": \"x\"\n"
					   "  },\n"
					   "  \"list\": [\n"
					   "    1,\n"
					   "    2.0\n"
					   "  ]\n"
					   "}");
	strbuf_release(&sb);
	done(&p);
}

Test(yaml, unreadable_file_is_one_diagnostic)
{
	struct arena *a = arena_new();
	struct intern *in = intern_new();
	struct diags d = DIAGS_INIT;
	struct ynode **docs;
	size_t n;
	cr_expect_eq(yaml_parse_file(a, in, "/nonexistent/x.yaml", &docs, &n, &d), -1);
	cr_assert_eq(d.len, 1);
	cr_expect(strstr(d.items[0], "/nonexistent/x.yaml: cannot read: No such file or directory") != NULL, "%s", d.items[0]);
	cr_expect_eq(n, 0);
	diags_release(&d);
	intern_free(in);
	arena_free(a);
}

/* A NUL would cut a string short wherever it is used as text. */
Test(yaml, a_nul_in_a_string_is_refused_where_it_is)
{
	struct parsed p;
	parse(&p, "a: 1\nlabel: \"x\\0y\"\n");
	cr_assert_eq(p.rc, -1);
	cr_assert_eq(p.d.len, 1);
	cr_assert_str_eq(p.d.items[0], "t.yaml:2:8: yaml: a string may not hold a NUL character");
	done(&p);
}

/* libyaml's reader reports an offset: the position is counted from it. */
Test(yaml, bad_bytes_are_placed_at_their_line_and_column)
{
	struct parsed p;
	parse(&p, "a: 1\nbb: x\xff\n");
	cr_assert_eq(p.rc, -1);
	cr_assert_eq(p.d.len, 1);
	cr_assert(strstr(p.d.items[0], "t.yaml:2:6: yaml: ") == p.d.items[0], "%s", p.d.items[0]);
	cr_assert(strstr(p.d.items[0], "(byte 0xff)") != NULL, "%s", p.d.items[0]);
	done(&p);
	/* A raw NUL byte in the input. */
	p.a = arena_new();
	p.in = intern_new();
	p.d = (struct diags)DIAGS_INIT;
	static const char text[] = "a: 1\nb: 2\nc: x\0y\n";
	p.rc = yaml_parse(p.a, p.in, "t.yaml", text, sizeof(text) - 1, &p.docs, &p.ndocs, &p.d);
	cr_assert_eq(p.rc, -1);
	cr_assert(strstr(p.d.items[0], "t.yaml:3:5: yaml: ") == p.d.items[0], "%s", p.d.items[0]);
	done(&p);
}

Test(yaml, a_scalar_over_the_limit_is_refused)
{
	size_t n = YAML_MAX_SCALAR + 10;
	char *text = malloc(n + 8);
	memcpy(text, "a: ", 3);
	memset(text + 3, 'x', n);
	text[3 + n] = '\0';
	struct parsed p;
	parse(&p, text);
	cr_assert_eq(p.rc, -1);
	cr_assert(strstr(p.d.items[0], "the limit is 1048576") != NULL, "%s", p.d.items[0]);
	done(&p);
	free(text);
}

/* Numbers keep the text they were written with in JSON (stored objects are
 * JSON): 0.10 stays 0.10, and an integer too large for 64 bits becomes a
 * string of its digits, not 1e+35. */
Test(yaml, numbers_keep_their_text_in_json)
{
	struct parsed p;
	parse(&p, "{big: 12345678901234567890123456789012345, f: 0.10, e: 1e3, half: .5, i: 7, "
		  "huge: 1e400}");
	cr_assert_eq(p.rc, 0);
	struct strbuf sb = STRBUF_INIT;
	ynode_to_json(p.docs[0], &sb, -1);
	cr_assert_str_eq(sb.buf, "{\"big\":\"12345678901234567890123456789012345\",\"f\":0.10,\"e\":1e3,"
				 "\"half\":0.5,\"i\":7,\"huge\":\"1e400\"}");
	strbuf_release(&sb);
	done(&p);
}
