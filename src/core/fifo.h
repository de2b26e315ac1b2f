/* A first-in first-out queue of slot indices over a fixed array of cap slots that the caller
 * owns: which slot a new entry goes to, which slot holds the oldest. Nothing is allocated.
 * Used for what is read one step late: the backends' closed loss tallies (backend.h
 * tally_close / tally_take) and the trainer's steps awaiting their loss. */
#ifndef GNET_FIFO_H
#define GNET_FIFO_H

typedef struct {
    int cap;   /* slots in the caller's array */
    int head;  /* the oldest entry's slot (when count > 0) */
    int count; /* entries queued */
} gnet_fifo;

void gnet_fifo_init(gnet_fifo *f, int cap);
/* The slot for a new (newest) entry, or -1 when all cap slots are in use. */
int gnet_fifo_push(gnet_fifo *f);
/* Removes the oldest entry and returns its slot (its contents stay the caller's to read
 * until that slot is pushed again), or -1 when the queue is empty. */
int gnet_fifo_pop(gnet_fifo *f);

#endif
