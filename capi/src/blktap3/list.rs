//! `struct list_head` of blktap3's `list.h`: the cached parent chain of a context is
//! threaded through the contexts' `next` fields.

use core::mem::{align_of, offset_of, size_of};

use crate::types::check_layout;

/// A node of a circular doubly linked list; an empty list points at itself.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct list_head {
    /// The previous node.
    pub prev: *mut list_head,
    /// The next node.
    pub next: *mut list_head,
}

check_layout!(list_head, size 16, align 8; prev @ 0, next @ 8);

/// Makes `head` an empty list (pointing at itself).
pub(crate) fn init(head: &mut list_head) {
    let p: *mut list_head = head;
    head.prev = p;
    head.next = p;
}

/// Links `node` at the end of the list `head`.
///
/// # Safety
/// `head` and `node` must be valid nodes; `head`'s list must be well formed.
pub(crate) unsafe fn add_tail(node: *mut list_head, head: *mut list_head) {
    // SAFETY: valid nodes of a well-formed list (caller's contract).
    unsafe {
        let prev = (*head).prev;
        (*node).prev = prev;
        (*node).next = head;
        (*prev).next = node;
        (*head).prev = node;
    }
}
