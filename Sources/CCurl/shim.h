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
static inline CURLcode balctl_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode balctl_curl_getinfo_double(CURL *h, CURLINFO i, double *v) { return curl_easy_getinfo(h, i, v); }
#endif
