//! Desk lists page with `from` and `limit`; there is no total and no cursor. The last page is the
//! one shorter than `limit`, and an empty page (HTTP 204 or `{"data":[]}`) ends the list too.

use futures::{Stream, StreamExt, TryStreamExt, stream};

use crate::error::DeskError;

/// Which page to fetch: `from` is a 0-based offset, `limit` the page size (1–100 for most lists,
/// 1–200 for threads). Checked before anything is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Offset of the first item.
    pub from: u32,
    /// Page size.
    pub limit: u32,
}

impl PageRequest {
    /// A page at `from` of `limit` items.
    pub fn new(from: u32, limit: u32) -> Self {
        PageRequest { from, limit }
    }

    /// The first page of `limit` items.
    pub fn first(limit: u32) -> Self {
        PageRequest { from: 0, limit }
    }

    pub(crate) fn check(self, max_limit: u32) -> Result<(), DeskError> {
        if (1..=max_limit).contains(&self.limit) {
            Ok(())
        } else {
            Err(DeskError::InvalidInput(format!(
                "limit must be between 1 and {max_limit}, got {}",
                self.limit
            )))
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub data: Vec<T>,
    /// The offset asked for.
    pub from: u32,
    /// The page size asked for.
    pub limit: u32,
}

impl<T> Page<T> {
    /// The following page, or `None` when this one was the last (shorter than `limit`).
    pub fn next(&self) -> Option<PageRequest> {
        (self.data.len() as u32 >= self.limit && !self.data.is_empty()).then(|| PageRequest {
            from: self.from + self.limit,
            limit: self.limit,
        })
    }
}

/// Walks every page, one call per page, yielding items in order; stops after the first short
/// or empty page, or at the first error.
pub(crate) fn walk<'a, T, F, Fut>(
    first: PageRequest,
    mut fetch: F,
) -> impl Stream<Item = Result<T, DeskError>> + 'a
where
    T: 'a,
    F: FnMut(PageRequest) -> Fut + 'a,
    Fut: Future<Output = Result<Page<T>, DeskError>> + 'a,
{
    stream::try_unfold(Some(first), move |next| {
        let call = next.map(&mut fetch);
        async move {
            match call {
                None => Ok::<_, DeskError>(None),
                Some(fetching) => {
                    let page = fetching.await?;
                    let following = page.next();
                    Ok(Some((
                        stream::iter(page.data.into_iter().map(Ok)),
                        following,
                    )))
                }
            }
        }
    })
    .try_flatten()
    .boxed_local()
}
