/* Libraries opened on first use: a shim's calls reach the library, and a
 * library or symbol that is missing stops the program with a message naming
 * it and exit code 1, never a crash. */
#include "base/lazy/xml.h"
#include "base/lazylib.h"

#include <criterion/criterion.h>
#include <dlfcn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

Test(lazylib, calls_reach_the_library_opened_on_first_use)
{
	cr_assert_null(dlopen("libxml2.so.2", RTLD_NOW | RTLD_NOLOAD),
		       "libxml2 was loaded at start");
	const char *text = "<Result><Key>a/b</Key></Result>";
	xmlDoc *doc = xmlReadMemory(text, (int)strlen(text), "t.xml", NULL, XML_PARSE_NONET);
	cr_assert_not_null(doc);
	xmlChar *key = xmlNodeGetContent(xmlDocGetRootElement(doc)->children);
	cr_assert_str_eq((const char *)key, "a/b");
	xmlFree(key);
	xmlFreeDoc(doc);
	void *h = dlopen("libxml2.so.2", RTLD_NOW | RTLD_NOLOAD);
	cr_assert_not_null(h, "libxml2 is not loaded after its first call");
	dlclose(h);
}

/* Runs fn in a child with stderr to a pipe; returns its exit status and what
 * it wrote. */
static int run_child(void (*fn)(void), char *out, size_t cap)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		fn();
		_exit(99); /* fn returned: the library was found after all */
	}
	close(fds[1]);
	size_t len = 0;
	ssize_t n;
	while (len + 1 < cap && (n = read(fds[0], out + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(fds[0]);
	int status = 0;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "the child did not exit (signal %d)", WTERMSIG(status));
	return WEXITSTATUS(status);
}

static void open_missing(void)
{
	lazylib_open("libcairn-nowhere.so.7", "testing");
}

static void look_up_missing(void)
{
	lazylib_symbol(lazylib_open("libxml2.so.2", "testing"), "libxml2.so.2",
		       "xmlNoSuchFunction");
}

Test(lazylib, a_missing_library_is_named)
{
	char msg[512];
	cr_assert_eq(run_child(open_missing, msg, sizeof(msg)), 1);
	cr_assert(strstr(msg, "cannot load libcairn-nowhere.so.7, needed for testing"), "%s", msg);
}

Test(lazylib, a_missing_symbol_is_named)
{
	char msg[512];
	cr_assert_eq(run_child(look_up_missing, msg, sizeof(msg)), 1);
	cr_assert(strstr(msg, "libxml2.so.2 has no xmlNoSuchFunction"), "%s", msg);
}
