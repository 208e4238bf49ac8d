/* The web page of `cairn serve`: the static page (web/, embedded in the
 * binary at build time) at `/` and `/static/NAME`, and the routes it needs
 * beyond the REST API: login and logout (web sessions are API tokens), the
 * environments (dependencies with owner, labels, URL, expiry and state), an
 * environment's instance graph, and extend, stop, start and delete — each a
 * policy change through revise_policy as the logged-in user, so the same ACL
 * as the CLI applies. */
#ifndef CAIRN_SERVER_WEB_H
#define CAIRN_SERVER_WEB_H

#include "api.h"
#include "http.h"

/* One embedded file of web/ (generated at build time: web_assets.c). */
struct web_asset {
	const char *name;         /* "index.html", "app.js", ... */
	const char *content_type;
	const unsigned char *data;
	size_t len;
};
extern const struct web_asset web_assets[];
extern const size_t web_nassets;

/* The page's routes, to be served beside api_routes() with the api as ctx:
 * their handlers work with the api's per-thread view (api_view_open). */
const struct http_route *web_routes(size_t *n);

/* The name a web session's token is stored under: "web session " and the
 * first 12 hex digits of the token's hash, so that logout revokes exactly
 * the token it was sent with. out holds at least WEB_SESSION_NAME_MAX. */
#define WEB_SESSION_NAME_MAX 32
void web_session_name(const char *token_hash, char out[WEB_SESSION_NAME_MAX]);

#endif
