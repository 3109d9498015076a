vcl 4.1;

# Varnish in front of one hlsd origin, for LL-HLS viewers (Varnish 7.1, Debian's package).
#
#   varnishd -a :80 -f /etc/varnish/hlsd.vcl -p thread_pool_min=200
#
# The origin's Cache-Control decides every lifetime (RFC 8216bis Appendix B.1): playlists
# live ½ target duration, blocking playlist answers 6 TD (`s-maxage`: in this cache, not in
# browsers), parts and segments are immutable.
# This file only narrows the cache key, coalesces viewers and keeps Varnish from serving
# anything staler than the origin allows.
#
# Signed playback (`/s/{expires}-{sig}/...`) is passed to the origin uncached: stock Varnish
# on Debian has no HMAC, so it cannot check a signature before sharing an answer between
# signers. Use the nginx configuration (deploy/nginx) for signed playback behind a cache.
#
# Publishers connect to the origin directly (or through deploy/nginx): ingest, /api and
# /metrics are not served here (the web player's feed list says so; its watch page plays).

import std;

backend hlsd {
    .host = "127.0.0.1";
    .port = "8080";
    # A blocking playlist request may wait 3 target durations at the origin.
    .first_byte_timeout = 60s;
    .between_bytes_timeout = 30s;
    .connect_timeout = 2s;
}

sub vcl_recv {
    if (req.method != "GET" && req.method != "HEAD") {
        return (synth(405, "Method Not Allowed"));
    }
    if (req.url ~ "^/s/") {
        return (pass);
    }
    # Playback, the web player and its files; not ingest, /api or /metrics.
    if (req.url !~ "^/(live|watch|vod|static)(/|$)" && req.url !~ "^/(healthz)?(\?|$)") {
        return (synth(404, "Not Found"));
    }
    # Cache key: the path and the three LL-HLS directives, nothing else. Other query
    # parameters (cache busters, tracking) are dropped before the origin sees them too, so
    # the answer cached is the answer to the key.
    if (req.url ~ "\?") {
        set req.url = regsuball(req.url, "(?<=[?&])(?!_HLS_(msn|part|skip)=)[^&]*(&|$)", "");
        set req.url = regsub(req.url, "[?&]+$", "");
        set req.url = std.querysort(req.url);
    }
    # Playlists and media are the same for every viewer.
    unset req.http.Cookie;
    unset req.http.Authorization;
    return (hash);
}

sub vcl_hash {
    hash_data(req.url);
    return (lookup);
}

sub vcl_backend_response {
    # Nothing stale: a playlist is fresh for what its Cache-Control says, then refetched.
    # (Varnish's default grace of 10 s would serve a playlist 10 s behind the live edge.)
    set beresp.grace = 0s;
    set beresp.keep = 0s;
    # A part or segment that does not exist yet appears within a part duration: its 404
    # (max-age=1 from the origin) is kept 0.2 s.
    if (beresp.status == 404 && bereq.url ~ "\.(ts|m4s|mp4)$") {
        set beresp.ttl = 0.2s;
    }
    # 401/403 are `private, no-store`: Varnish's built-in rule makes them hit-for-miss, so
    # they are never shared. Answers that are cacheable (every other playback answer,
    # errors included) are shared, which is what lets the waiting list coalesce viewers:
    # a viewer asking for a URL being fetched waits for that fetch instead of going to the
    # origin. A `no-store` playback answer would send every later viewer to the origin
    # for two minutes (hit-for-miss), so hlsd sends none.
}
