/* Errors carry their context up, and the kind of failure a caller acts on. */
#include "base/error.h"

#include <criterion/criterion.h>

Test(error, wrap_adds_context_and_keeps_the_kind)
{
	struct error err = ERROR_INIT;
	cr_assert_str_eq(error_msg(&err), "unknown error");
	cr_assert(!error_is(&err, ERROR_FAILED), "no error is of no kind");
	cr_assert_eq(error_set_kind(&err, ERROR_TRANSIENT, "connection %s", "refused"), -1);
	cr_assert_eq(error_wrap(&err, "host %s", "h2"), -1);
	cr_assert_str_eq(error_msg(&err), "host h2: connection refused");
	cr_assert(error_is(&err, ERROR_TRANSIENT));
	error_clear(&err);
	cr_assert(!error_is(&err, ERROR_TRANSIENT));
}

Test(error, set_replaces_message_and_kind)
{
	struct error err = ERROR_INIT;
	error_set_kind(&err, ERROR_TRANSIENT, "engine busy");
	cr_assert_eq(error_set(&err, "container %s is unhealthy", "web"), -1);
	cr_assert_str_eq(error_msg(&err), "container web is unhealthy");
	cr_assert(error_is(&err, ERROR_FAILED), "a new failure is not the old one's kind");
	cr_assert_eq(error_mark(&err, ERROR_TRANSIENT), -1);
	cr_assert(error_is(&err, ERROR_TRANSIENT));
	cr_assert_str_eq(error_msg(&err), "container web is unhealthy", "marking keeps the message");
	error_clear(&err);
}

Test(error, refusals_are_input_and_forbidden_only)
{
	struct error err = ERROR_INIT;
	cr_assert(!error_is_refusal(&err), "no error refuses nothing");
	enum error_kind refusals[] = { ERROR_INPUT, ERROR_FORBIDDEN };
	enum error_kind others[] = { ERROR_FAILED, ERROR_NOT_FOUND, ERROR_TRANSIENT, ERROR_BUSY,
				     ERROR_IO };
	for (size_t i = 0; i < sizeof(refusals) / sizeof(*refusals); i++) {
		error_set_kind(&err, refusals[i], "no");
		cr_assert(error_is_refusal(&err), "kind %d", refusals[i]);
	}
	for (size_t i = 0; i < sizeof(others) / sizeof(*others); i++) {
		error_set_kind(&err, others[i], "no");
		cr_assert(!error_is_refusal(&err), "kind %d", others[i]);
	}
	error_clear(&err);
}

Test(error, diagnostics_name_their_place)
{
	struct diags d = DIAGS_INIT;
	diags_add_at(&d, (struct pos){ "policy.yaml", 3, 7 }, "service %s: no components", "web");
	diags_add(&d, "no policy objects given");
	cr_assert_eq(d.len, 2);
	cr_assert_str_eq(d.items[0], "policy.yaml:3:7: service web: no components");
	cr_assert_str_eq(d.items[1], "no policy objects given");
	diags_release(&d);
}
