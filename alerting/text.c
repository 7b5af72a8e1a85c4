/* Text for people: cutting UTF-8 on character boundaries, cleaning control characters, Slack
 * escaping, number and duration formatting. Inputs come from jansson, so they are valid UTF-8. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alert_int.h"

static const char *const receiver_names[ALERT_RECEIVER_COUNT] = {"webhook", "slack",
                                                                 "alertmanager"};

const char *alert_receiver_name(enum alert_receiver r)
{
    return (unsigned)r < ALERT_RECEIVER_COUNT ? receiver_names[r] : "?";
}

static bool is_continuation(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* Bytes of the character starting at s (1 for a stray byte, never past the NUL). */
static size_t char_bytes(const char *s)
{
    size_t n = 1;
    while (s[n] && is_continuation((unsigned char)s[n]) && n < 4)
        n++;
    return n;
}

size_t alert_utf8_prefix(const char *s, size_t max_chars)
{
    size_t bytes = 0;
    for (size_t chars = 0; s[bytes] && chars < max_chars; chars++)
        bytes += char_bytes(s + bytes);
    return bytes;
}

size_t alert_utf8_len(const char *s)
{
    size_t chars = 0;
    for (size_t i = 0; s[i]; i += char_bytes(s + i))
        chars++;
    return chars;
}

static void append_char(struct buf *out, const char *c, size_t n, enum alert_escape esc)
{
    unsigned char b = (unsigned char)c[0];
    if (n == 1 && (b < 0x20 || b == 0x7F)) {
        buf_append_char(out, ' ');
        return;
    }
    /* U+2028 / U+2029 break lines in some renderers too. */
    if (n == 3 && b == 0xE2 && (unsigned char)c[1] == 0x80 &&
        ((unsigned char)c[2] == 0xA8 || (unsigned char)c[2] == 0xA9)) {
        buf_append_char(out, ' ');
        return;
    }
    if (esc == ALERT_TEXT_CODE && n == 1) {
        switch (b) {
        case '&':
            buf_append_str(out, "&amp;");
            return;
        case '<':
            buf_append_str(out, "&lt;");
            return;
        case '>':
            buf_append_str(out, "&gt;");
            return;
        case '`':
            buf_append_char(out, '\'');
            return;
        }
    }
    buf_append(out, c, n);
}

size_t alert_text_append(struct buf *out, const char *s, size_t max_chars, enum alert_escape esc)
{
    if (!s || max_chars == 0)
        return 0;
    size_t total = alert_utf8_len(s);
    size_t keep = total <= max_chars ? total : max_chars - 1;
    size_t i = 0;
    for (size_t chars = 0; chars < keep; chars++) {
        size_t n = char_bytes(s + i);
        append_char(out, s + i, n, esc);
        i += n;
    }
    if (keep < total)
        buf_append_str(out, "\xE2\x80\xA6"); /* … */
    return keep < total ? keep + 1 : keep;
}

char *alert_text_clip(const char *s, size_t max_chars)
{
    struct buf b = {0};
    alert_text_append(&b, s ? s : "", max_chars, ALERT_TEXT_PLAIN);
    char *r = xstrdup(buf_cstr(&b));
    buf_free(&b);
    return r;
}

void alert_format_pct(const json_t *v, char *out, size_t outlen)
{
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        snprintf(out, outlen, "n/a");
    else
        snprintf(out, outlen, "%+.2f%%", json_number_value(v));
}
