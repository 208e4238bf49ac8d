/* The server config's demos: section: offers with their ttl, the domain,
 * and errors that name the file, line and key. */
#include "engine/demos/demos.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *write_config(const char *text)
{
	char *path = strdup("/tmp/cairn-demos-config-XXXXXX");
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void refused(const char *text, const char *want)
{
	char *path = write_config(text);
	struct demos_config *c = NULL;
	struct diags d = DIAGS_INIT;
	cr_assert_eq(demos_config_load(&c, path, &d), -1, "accepted: %s", text);
	cr_assert_null(c);
	cr_assert(d.len && strstr(d.items[0], want), "want '%s', got '%s'", want,
		  d.len ? d.items[0] : "(nothing)");
	cr_assert(strstr(d.items[0], path), "the file is named: %s", d.items[0]);
	diags_release(&d);
	unlink(path);
	free(path);
}

Test(demos_config, offers_with_their_ttl_and_the_domain)
{
	char *path = write_config("listen: 127.0.0.1:0\ndomain: Example.TEST\n"
				  "demos:\n  contracts:\n    - {contract: demo/shop, ttl: 3d}\n"
				  "    - {contract: ops/tools}\n");
	struct demos_config *c = NULL;
	struct diags d = DIAGS_INIT;
	cr_assert_eq(demos_config_load(&c, path, &d), 0, "%s", d.len ? d.items[0] : "");
	cr_assert_str_eq(c->domain, "example.test", "the config's domain, lower-cased");
	cr_assert_eq(c->noffers, 2);
	cr_assert_str_eq(demos_offer(c, "demo/shop")->ttl, "3d");
	cr_assert_str_eq(demos_offer(c, "ops/tools")->ttl, DEMO_TTL_DEFAULT);
	cr_assert_null(demos_offer(c, "demo/other"));
	demos_config_free(c);
	unlink(path);
	free(path);
}

Test(demos_config, a_file_without_demos_offers_nothing)
{
	char *path = write_config("listen: 127.0.0.1:0\n");
	struct demos_config *c = NULL;
	struct diags d = DIAGS_INIT;
	cr_assert_eq(demos_config_load(&c, path, &d), 0);
	cr_assert_eq(c->noffers, 0);
	cr_assert_str_eq(c->domain, "localhost");
	demos_config_free(c);
	unlink(path);
	free(path);
}

Test(demos_config, mistakes_are_named)
{
	refused("demos:\n  contracts:\n    - {contract: shop}\n", "contract must be NAMESPACE/NAME, not 'shop'");
	refused("demos:\n  contracts:\n    - {contract: demo/shop, ttl: soon}\n", "ttl 'soon' is not a positive duration");
	refused("demos:\n  contracts:\n    - {contract: demo/shop, tll: 7d}\n", "unknown key 'tll' in a demos.contracts entry (did you mean 'ttl'?)");
	refused("demos:\n  contract: []\n", "unknown key 'contract' in demos (did you mean 'contracts'?)");
	refused("demos:\n  contracts:\n    - {ttl: 7d}\n", "an entry needs 'contract'");
	refused("demos:\n  contracts:\n    - {contract: a/b}\n    - {contract: a/b}\n", "contract a/b is listed twice");
	refused("demos: [x]\n", ":1:8: demos must be a mapping");
}
