// Signed playback for nginx's njs (Debian: libnginx-mod-http-js): the same check hlsd makes
// (src/http/signed.rs), so that nginx may share one cached answer between every viewer
// holding a valid token. `/s/{expires}-{sig}/{live|watch|vod}/{feed}/...` is valid when
// `expires` (unix seconds, no leading zero) is not past and `sig` is the lowercase hex
// HMAC-SHA256 of "{feed}:{expires}" under $hlsd_playback_secret (auth.playback_secret).
const crypto = require('crypto');

const SIGNED = /^\/s\/([1-9][0-9]{0,19}|0)-([0-9a-f]{64})\/(live|watch|vod)\/([A-Za-z0-9_-]{1,64})(\/|$)/;

function equal(a, b) {
    if (a.length !== b.length) {
        return false;
    }
    let diff = 0;
    for (let i = 0; i < a.length; i++) {
        diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
    }
    return diff === 0;
}

// "1" when the request's path carries a valid token, "" otherwise.
function verify(r) {
    const secret = r.variables.hlsd_playback_secret;
    const m = SIGNED.exec(r.uri);
    if (!secret || !m) {
        return '';
    }
    if (Number(m[1]) < Math.floor(Date.now() / 1000)) {
        return '';
    }
    const want = crypto.createHmac('sha256', secret).update(m[4] + ':' + m[1]).digest('hex');
    return equal(want, m[2]) ? '1' : '';
}

export default { verify };
