#ifndef BALCTL_CCURL_SHIM_H
#define BALCTL_CCURL_SHIM_H
#include <curl/curl.h>

/* curl_easy_setopt / curl_easy_getinfo are variadic and cannot be called from Swift:
   one typed wrapper per argument kind. */
static inline CURLcode balctl_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode balctl_curl_setopt_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode balctl_curl_setopt_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode balctl_curl_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }
typedef size_t (*balctl_curl_write_cb)(char *ptr, size_t size, size_t nmemb, void *userdata);
static inline CURLcode balctl_curl_setopt_write_cb(CURL *h, CURLoption o, balctl_curl_write_cb v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode balctl_curl_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode balctl_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode balctl_curl_getinfo_double(CURL *h, CURLINFO i, double *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode balctl_curl_getinfo_off(CURL *h, CURLINFO i, curl_off_t *v) { return curl_easy_getinfo(h, i, v); }
/* Restrict the transfer (and any redirect) to https, or to http and https. libcurl 7.85 added
   CURLOPT_PROTOCOLS_STR / CURLOPT_REDIR_PROTOCOLS_STR and deprecated the bitmask options; older
   libcurl (RHEL 9 ships 7.76) only knows the bitmask. `use_bitmask` selects the old options (the
   caller falls back to them when the new ones are unknown at run time, and tests force them).
   Headers older than 7.85 have no _STR options: the bitmask is then the only way. */
static inline CURLcode balctl_curl_restrict_protocols(CURL *h, int https_only, int use_bitmask) {
#if LIBCURL_VERSION_NUM >= 0x075500
    if (!use_bitmask) {
        const char *names = https_only ? "https" : "http,https";
        CURLcode c = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, names);
        if (c != CURLE_OK) return c;
        return curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, names);
    }
#endif
    long mask = https_only ? CURLPROTO_HTTPS : (CURLPROTO_HTTP | CURLPROTO_HTTPS);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    CURLcode c = curl_easy_setopt(h, CURLOPT_PROTOCOLS, mask);
    if (c == CURLE_OK) c = curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, mask);
#pragma GCC diagnostic pop
    return c;
}
/* The same for a mail transfer: smtp and smtps only (CURLOPT_PROTOCOLS_STR "smtp,smtps", or the
   bitmask on libcurl older than 7.85). Kept apart from the http restriction so neither policy can
   widen the other. */
static inline CURLcode balctl_curl_restrict_protocols_smtp(CURL *h, int use_bitmask) {
#if LIBCURL_VERSION_NUM >= 0x075500
    if (!use_bitmask) {
        CURLcode c = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
        if (c != CURLE_OK) return c;
        return curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "smtp,smtps");
    }
#endif
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    CURLcode c = curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_SMTP | CURLPROTO_SMTPS));
    if (c == CURLE_OK) c = curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_SMTP | CURLPROTO_SMTPS));
#pragma GCC diagnostic pop
    return c;
}
#endif
