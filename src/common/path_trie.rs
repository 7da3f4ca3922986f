//! PathTrie: the set of paths that carry a quota, arranged by path component
//! so the deepest quota root above any path is found in one walk. The data
//! tree owns one and uses it under its own lock, so the trie has none.

use std::collections::HashMap;

#[derive(Default)]
struct TrieNode {
    /// Set when a quota is rooted exactly here.
    marked: bool,
    children: HashMap<Box<str>, TrieNode>,
}

/// Paths split on `/`; empty components are ignored, as in Java.
#[derive(Default)]
pub struct PathTrie {
    root: TrieNode,
    /// How many paths are marked, so that a trie without any answers at
    /// once (most trees have no quota at all).
    marked: usize,
}

fn components(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|c| !c.trim().is_empty())
}

impl PathTrie {
    pub fn new() -> PathTrie {
        PathTrie::default()
    }

    /// Marks `path`, creating the components on the way.
    pub fn add_path(&mut self, path: &str) {
        let mut node = &mut self.root;
        for c in components(path) {
            node = node.children.entry(c.into()).or_default();
        }
        if !node.marked {
            node.marked = true;
            self.marked += 1;
        }
    }

    /// Whether no path is marked.
    pub fn is_empty(&self) -> bool {
        self.marked == 0
    }

    /// Unmarks `path`, and drops its trie node when nothing hangs below it.
    /// Unknown paths are ignored.
    pub fn delete_path(&mut self, path: &str) {
        let comps: Vec<&str> = components(path).collect();
        let Some((last, parents)) = comps.split_last() else {
            return;
        };
        let mut node = &mut self.root;
        for c in parents {
            match node.children.get_mut(*c) {
                Some(n) => node = n,
                None => return,
            }
        }
        if let Some(target) = node.children.get_mut(*last) {
            if target.marked {
                target.marked = false;
                self.marked -= 1;
            }
            if target.children.is_empty() {
                node.children.remove(*last);
            }
        }
    }

    /// Whether every component of `path` is in the trie (marked or not).
    pub fn exists_node(&self, path: &str) -> bool {
        let mut node = &self.root;
        for c in components(path) {
            match node.children.get(c) {
                Some(n) => node = n,
                None => return false,
            }
        }
        true
    }

    /// The longest marked prefix of `path`, or "/" when none is.
    pub fn find_max_prefix(&self, path: &str) -> String {
        let mut node = &self.root;
        let mut walked = String::new();
        let mut best_len = None;
        for c in components(path) {
            match node.children.get(c) {
                Some(n) => node = n,
                None => break,
            }
            walked.push('/');
            walked.push_str(c);
            if node.marked {
                best_len = Some(walked.len());
            }
        }
        match best_len {
            Some(n) => {
                walked.truncate(n);
                walked
            }
            None => "/".to_string(),
        }
    }

    pub fn clear(&mut self) {
        self.root.children.clear();
        self.marked = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_prefix() {
        let mut t = PathTrie::new();
        assert!(t.is_empty());
        assert_eq!(t.find_max_prefix("/a/b"), "/");
        t.add_path("/a");
        t.add_path("/a/b/c");
        t.add_path("/a");
        assert!(!t.is_empty());
        assert_eq!(t.find_max_prefix("/a"), "/a");
        assert_eq!(t.find_max_prefix("/a/b"), "/a");
        assert_eq!(t.find_max_prefix("/a/b/c/d"), "/a/b/c");
        assert_eq!(t.find_max_prefix("/ab"), "/");
        assert!(t.exists_node("/a/b"));
        assert!(!t.exists_node("/a/x"));

        // /a/b/c has no children: removed outright; /a keeps its subtree.
        t.delete_path("/a/b/c");
        assert_eq!(t.find_max_prefix("/a/b/c/d"), "/a");
        assert!(!t.exists_node("/a/b/c"));
        t.delete_path("/a");
        assert_eq!(t.find_max_prefix("/a/b"), "/");
        assert!(t.exists_node("/a/b"));
        assert!(t.is_empty(), "every quota path was deleted");
        t.delete_path("/nope/x");
        t.delete_path("/");
        t.clear();
        assert!(!t.exists_node("/a"));
    }
}
