/* A per-thread bump allocator for jansson while it parses a message: json_loadb allocates a
 * few dozen small blocks per sample and json_decref frees them one by one; with the arena on,
 * those allocations are pointer bumps in a block the thread keeps, their frees are no-ops, and
 * the whole message is released at once (jarena_reset). Private to consumer/.
 *
 * jarena_install() routes every jansson allocation of the process through it (once, before
 * the consumer starts); outside jarena_begin/jarena_end, and when the block is full, it is
 * malloc and free. Only json values parsed between begin and end may live in the arena, so
 * what jansson allocates for callers that free() it themselves (json_dumps) must be made with
 * the arena off. */
#ifndef REGRESSD_CONSUMER_JARENA_H
#define REGRESSD_CONSUMER_JARENA_H

void jarena_install(void);
/* Allocations of this thread go to its arena until jarena_end. */
void jarena_begin(void);
void jarena_end(void);
/* Forgets everything allocated in this thread's arena: every json value parsed in it must
 * have been released (json_decref) before. */
void jarena_reset(void);
/* Frees this thread's block (at thread exit). */
void jarena_release(void);

#endif
