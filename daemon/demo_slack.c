/* `regressd demo`: a Slack Block Kit message as a terminal can show it, for the alert stage.
 * What Slack draws: the header in bold, a section's fields two per row, mrkdwn text with its
 * entities (&amp; &lt; &gt;) decoded and code blocks as fixed-width lines, context in small
 * print. Anything else is named, not guessed at. Everything is behind a "| " bar, the way Slack
 * sets a message apart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"

#define SLACK_WRAP 92      /* columns of wrapped plain text */
#define SLACK_RULE 78      /* width of the frame and of the header's underline */
#define SLACK_FIELD_COL 56 /* at most this wide, the left column of fields */
#define SLACK_MAX_LINES 80 /* of one text object */

static const char *text_of(const json_t *text_object)
{
    const char *s = json_string_value(json_object_get(text_object, "text"));
    return s ? s : "";
}

/* s with Slack's three entities decoded and code fences dropped. Caller frees. */
static char *decode_mrkdwn(const char *s)
{
    static const struct {
        const char *entity;
        char c;
    } entities[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}};
    struct buf b = {0};
    while (*s) {
        if (strncmp(s, "```", 3) == 0) {
            s += 3;
            if (*s == '\n' && b.len == 0)
                s++; /* the opening fence's line */
            continue;
        }
        size_t i = 0;
        for (; i < REGRESSD_ARRAY_LEN(entities); i++)
            if (strncmp(s, entities[i].entity, strlen(entities[i].entity)) == 0)
                break;
        if (i < REGRESSD_ARRAY_LEN(entities)) {
            buf_append_char(&b, entities[i].c);
            s += strlen(entities[i].entity);
        } else {
            buf_append_char(&b, *s++);
        }
    }
    char *out = xstrdup(buf_cstr(&b));
    buf_free(&b);
    return out;
}

/* Prints text line by line behind the bar; lines of plain text wrap at spaces. */
static void print_lines(const char *indent, const char *text, bool wrap)
{
    const char *p = text;
    for (int lines = 0; *p && lines < SLACK_MAX_LINES; lines++) {
        size_t len = strcspn(p, "\n");
        if (wrap && len > SLACK_WRAP) {
            size_t cut = SLACK_WRAP;
            while (cut > SLACK_WRAP / 2 && p[cut] != ' ')
                cut--;
            if (p[cut] == ' ')
                len = cut;
        }
        printf("%s| %.*s\n", indent, (int)len, p);
        p += len;
        while (*p == ' ' && wrap)
            p++;
        if (*p == '\n')
            p++;
    }
    if (*p)
        printf("%s| ...\n", indent);
}

/* Characters of one line (UTF-8 continuation bytes do not count). */
static size_t columns(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* A field is "Name\nvalue": its name line and its value line. */
static void field_lines(const json_t *field, const char **name, size_t *name_len,
                        const char **value)
{
    const char *t = text_of(field), *nl = strchr(t, '\n');
    *name = t;
    *name_len = nl ? (size_t)(nl - t) : strlen(t);
    *value = nl ? nl + 1 : "";
}

/* Fields two per row, the left column as wide as its widest line (up to SLACK_FIELD_COL). */
static void print_fields(const char *indent, const json_t *fields)
{
    size_t width = 0, n = json_array_size(fields);
    for (size_t i = 0; i < n; i += 2) {
        const char *name, *value;
        size_t name_len;
        field_lines(json_array_get(fields, i), &name, &name_len, &value);
        size_t w = columns(name, name_len), v = columns(value, strlen(value));
        width = w > width ? w : width;
        width = v > width ? v : width;
    }
    width = (width > SLACK_FIELD_COL ? SLACK_FIELD_COL : width) + 4;
    for (size_t i = 0; i < n; i += 2) {
        const char *name[2] = {"", ""}, *value[2] = {"", ""};
        size_t name_len[2] = {0, 0};
        for (size_t k = 0; k < 2 && i + k < n; k++)
            field_lines(json_array_get(fields, i + k), &name[k], &name_len[k], &value[k]);
        size_t pad = width - columns(name[0], name_len[0]);
        printf("%s| %.*s%*s%.*s\n", indent, (int)name_len[0], name[0], (int)pad, "",
               (int)name_len[1], name[1]);
        size_t vw = columns(value[0], strlen(value[0]));
        pad = vw < width ? width - vw : 2;
        printf("%s| %s%*s%s\n", indent, value[0], (int)pad, "", value[1]);
    }
}

static void print_text_object(const char *indent, const json_t *text)
{
    const char *type = json_string_value(json_object_get(text, "type"));
    if (type && strcmp(type, "mrkdwn") == 0) {
        char *decoded = decode_mrkdwn(text_of(text));
        print_lines(indent, decoded, false);
        free(decoded);
    } else {
        print_lines(indent, text_of(text), true);
    }
}

static void print_block(const char *indent, const json_t *block, bool first)
{
    const char *type = json_string_value(json_object_get(block, "type"));
    type = type ? type : "?";
    if (!first && strcmp(type, "context") != 0)
        printf("%s|\n", indent);
    if (strcmp(type, "header") == 0) {
        const char *t = text_of(json_object_get(block, "text"));
        printf("%s| %s\n", indent, t);
        size_t n = columns(t, strlen(t));
        printf("%s| ", indent);
        for (size_t i = 0; i < n && i < SLACK_RULE; i++)
            putchar('=');
        putchar('\n');
    } else if (strcmp(type, "section") == 0) {
        const json_t *text = json_object_get(block, "text"),
                     *fields = json_object_get(block, "fields");
        if (text)
            print_text_object(indent, text);
        if (json_is_array(fields))
            print_fields(indent, fields);
    } else if (strcmp(type, "context") == 0) {
        size_t i;
        const json_t *el;
        json_array_foreach(json_object_get(block, "elements"), i, el)
        {
            printf("%s|\n", indent);
            print_text_object(indent, el);
        }
    } else if (strcmp(type, "divider") == 0) {
        printf("%s| ----\n", indent);
    } else {
        printf("%s| [a \"%s\" block]\n", indent, type);
    }
}

static void print_rule(const char *indent)
{
    printf("%s+", indent);
    for (int i = 0; i < SLACK_RULE; i++)
        putchar('-');
    putchar('\n');
}

void demo_slack_print(const json_t *body, const char *indent)
{
    const json_t *blocks = json_object_get(body, "blocks");
    size_t i;
    const json_t *block;
    print_rule(indent);
    json_array_foreach(blocks, i, block)
    {
        print_block(indent, block, i == 0);
    }
    if (!json_array_size(blocks))
        print_lines(indent, text_of(body), true); /* a message of text alone */
    print_rule(indent);
}
