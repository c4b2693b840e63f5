/* Circular doubly linked lists threaded through the structs they link. */

#define LIST_HEAD_INIT(name) { &(name), &(name) }
#define LIST_HEAD(name) struct list_head name = LIST_HEAD_INIT(name)

static inline void
INIT_LIST_HEAD(struct list_head *head)
{
	head->prev = head;
	head->next = head;
}

static inline int
list_empty(const struct list_head *head)
{
	return head->next == head;
}

static inline void
__list_link(struct list_head *node, struct list_head *prev, struct list_head *next)
{
	next->prev = node;
	node->next = next;
	node->prev = prev;
	prev->next = node;
}

/* Inserts `node` right after `head`. */
static inline void
list_add(struct list_head *node, struct list_head *head)
{
	__list_link(node, head, head->next);
}

/* Inserts `node` right before `head` (at the end of the list). */
static inline void
list_add_tail(struct list_head *node, struct list_head *head)
{
	__list_link(node, head->prev, head);
}

/* Unlinks `node` and leaves it an empty list of its own. */
static inline void
list_del_init(struct list_head *node)
{
	node->next->prev = node->prev;
	node->prev->next = node->next;
	INIT_LIST_HEAD(node);
}

static inline void
list_del(struct list_head *node)
{
	list_del_init(node);
}

#ifndef containerof
#define containerof(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#endif

#define list_entry(ptr, type, member) containerof(ptr, type, member)

#define list_for_each(pos, head) \
	for (pos = (head)->next; pos != (head); pos = pos->next)

#define list_for_each_entry(pos, head, member)                           \
	for (pos = list_entry((head)->next, __typeof__(*pos), member);   \
	     &pos->member != (head);                                      \
	     pos = list_entry(pos->member.next, __typeof__(*pos), member))

#define list_for_each_entry_safe(pos, n, head, member)                   \
	for (pos = list_entry((head)->next, __typeof__(*pos), member),   \
	     n = list_entry(pos->member.next, __typeof__(*pos), member);  \
	     &pos->member != (head);                                      \
	     pos = n, n = list_entry(n->member.next, __typeof__(*n), member))
