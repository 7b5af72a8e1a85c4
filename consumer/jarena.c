/* See jarena.h. */
#include "jarena.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "regressd/util.h"

#define JARENA_BYTES (4u << 20)
#define JARENA_ALIGN 16u

static _Thread_local struct {
    char *base;
    size_t used;
    bool on;
} arena;

static void *arena_malloc(size_t n)
{
    if (arena.on) {
        size_t need = (n + JARENA_ALIGN - 1) & ~(size_t)(JARENA_ALIGN - 1);
        if (need >= n && need <= JARENA_BYTES - arena.used) {
            void *p = arena.base + arena.used;
            arena.used += need;
            return p;
        }
    }
    return malloc(n);
}

/* A block from this thread's arena is released with the arena; anything else was malloc'd
 * (arenas of other threads never reach here: their values do not leave their thread). */
static void arena_free(void *p)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)arena.base;
    if (arena.base && a >= b && a < b + JARENA_BYTES)
        return;
    free(p);
}

static pthread_once_t installed = PTHREAD_ONCE_INIT;

static void install(void)
{
    json_set_alloc_funcs(arena_malloc, arena_free);
}

void jarena_install(void)
{
    pthread_once(&installed, install);
}

void jarena_begin(void)
{
    if (!arena.base)
        arena.base = xmalloc(JARENA_BYTES);
    arena.on = true;
}

void jarena_end(void)
{
    arena.on = false;
}

void jarena_reset(void)
{
    arena.used = 0;
}

void jarena_release(void)
{
    free(arena.base);
    arena.base = NULL;
    arena.used = 0;
    arena.on = false;
}
