// Package atomicfile writes files so that readers, and a crash, see either
// the old state or the whole new file, never a partial one.
//
// Every write goes to a temporary file in the folder of the file it will
// become (named ".tessella-NAME.tmp-RANDOM"), which is written, given its
// permission bits and synced; committing it then gives it its final name
// in one system call and syncs the folder (where the system can). On any
// error before the commit, the temporary file is removed and the target
// is left as it was.
//
// The caller chooses one of two policies:
//
//   - replace: a symbolic link at the path is followed (the last element
//     only, up to 40 links; a dangling link names the file to create), so
//     the link stays and the file it leads to is replaced, by a rename.
//     The new file gets the permission bits of the file it replaces, 0644
//     when there is none (ownership and other attributes are not copied).
//     A target that exists but is not a regular file (a folder, a device)
//     is refused with an error wrapping [ErrNotRegular].
//   - no replace: the path itself must not exist; a symbolic link there,
//     even a dangling one, counts as existing and is not followed. The
//     commit is a hard link, which fails if the path has appeared in the
//     meantime, so nothing is ever overwritten, even by a concurrent
//     writer; where hard links are not supported it creates the path with
//     O_EXCL and copies the temporary file into it. A new file gets 0644.
//     An existing path is refused with an error wrapping [fs.ErrExist].
//
// Because replace follows links, two different names can lead to one
// file; a caller writing several files checks them first with Collision
// (or SameTarget for two), so that no write replaces another of the same
// batch.
//
// Errors name the path the caller gave (and the file a link leads to,
// when that is where the problem is).
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"unicode/utf8"
)

// ErrNotRegular is wrapped by the error for a target that exists but is
// not a regular file (replace only: without replace any existing path is
// refused with fs.ErrExist).
var ErrNotRegular = errors.New("not a regular file")

// maxLinks bounds the chain of symbolic links followed with replace
// (Linux's limit).
const maxLinks = 40

// newPerm is the permission bits of a new file.
const newPerm fs.FileMode = 0o644

// bufSize is the write buffer of Stage and Write.
const bufSize = 1 << 20

// Staged is a complete, synced temporary file waiting to be committed
// under its final name. Call Discard when done with it (typically
// deferred): after a successful Commit it does nothing.
type Staged struct {
	path    string // as the caller gave it
	target  string // the file Commit writes: path, or where its links lead
	tmp     string // the temporary file; "" once committed or discarded
	perm    fs.FileMode
	replace bool
}

// Stage writes a temporary file for path with write (through a buffer)
// and syncs it; Commit gives it its final name. With replace, links at
// path are followed and the target must be a regular file or not exist;
// without, path must not exist (error wrapping fs.ErrExist; Commit checks
// again, atomically). If write or anything else fails, Stage removes the
// temporary file and returns the error.
func Stage(path string, replace bool, write func(io.Writer) error) (*Staged, error) {
	return stage(path, replace, write, true)
}

// Check reports whether Write(path, replace, …) could commit now: it
// makes the refusals Stage makes (no file name; without replace, a path
// that exists, even as a dangling link, with an error wrapping
// fs.ErrExist; with replace, a link loop, or a target that is not a
// regular file, with an error wrapping ErrNotRegular) and then creates
// and removes a temporary file where Stage would put it (in the folder of
// the file a link at path leads to, with replace), so that a missing or
// read-only folder is found too. Errors have Stage's form. It changes
// nothing, and the answer can change before a later write: the write
// itself still checks.
func Check(path string, replace bool) error {
	s, err := prepare(path, replace)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir(s.target), tempPattern(s.target))
	if err != nil {
		return s.errorf(err)
	}
	err = f.Close()
	if rerr := os.Remove(f.Name()); err == nil {
		err = rerr
	}
	if err != nil {
		return s.errorf(err)
	}
	return nil
}

// prepare makes the checks of Stage before any file is created, and
// returns the Staged it starts from: its target (path, or where links at
// path lead with replace) and the permission bits the new file gets.
func prepare(path string, replace bool) (*Staged, error) {
	s := &Staged{path: path, target: path, perm: newPerm, replace: replace}
	if _, name := filepath.Split(path); name == "" {
		return nil, fmt.Errorf("%q: no file name", path)
	}
	if replace {
		target, err := resolve(path)
		if err != nil {
			return nil, s.errorf(err)
		}
		s.target = target
		switch st, serr := os.Stat(s.target); {
		case serr == nil && !st.Mode().IsRegular():
			return nil, s.errorf(ErrNotRegular)
		case serr == nil:
			s.perm = st.Mode().Perm()
		case !errors.Is(serr, fs.ErrNotExist):
			return nil, s.errorf(serr)
		}
	} else if _, serr := os.Lstat(path); serr == nil {
		return nil, s.errorf(fs.ErrExist)
	} else if !errors.Is(serr, fs.ErrNotExist) {
		return nil, s.errorf(serr)
	}
	return s, nil
}

func stage(path string, replace bool, write func(io.Writer) error, buffered bool) (s *Staged, err error) {
	if s, err = prepare(path, replace); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir(s.target), tempPattern(s.target))
	if err != nil {
		return nil, s.errorf(err)
	}
	ok := false
	defer func() { // also on a panic in write
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if buffered {
		bw := bufio.NewWriterSize(f, bufSize)
		if err = write(bw); err == nil {
			err = bw.Flush()
		}
	} else {
		err = write(f)
	}
	if err == nil {
		err = f.Chmod(s.perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, s.errorf(err)
	}
	ok = true
	s.tmp = f.Name()
	return s, nil
}

// Commit gives the staged file its final name and syncs the folder: with
// replace by renaming it over the target, without by a hard link that
// fails (error wrapping fs.ErrExist) if the path exists. On an error the
// temporary file stays until Discard.
func (s *Staged) Commit() error {
	if s.tmp == "" {
		return s.errorf(errors.New("staged file already committed or discarded"))
	}
	if s.replace {
		if err := os.Rename(s.tmp, s.target); err != nil {
			return s.errorf(err)
		}
	} else {
		if err := link(s.tmp, s.path, s.perm); err != nil {
			return s.errorf(err)
		}
		os.Remove(s.tmp) // the file lives on under path
	}
	s.tmp = ""
	syncDir(dir(s.target))
	return nil
}

// Discard removes the temporary file, if it is still there. It may be
// called any number of times, before or after Commit.
func (s *Staged) Discard() {
	if s.tmp != "" {
		os.Remove(s.tmp)
		s.tmp = ""
	}
}

// Target is the file Commit writes: the path given to Stage or, with
// replace, the file the symbolic links at it lead to.
func (s *Staged) Target() string { return s.target }

// SameTarget reports whether writes of a and b with the same policy would
// land on one file, so that the second would replace the first: see
// Collision.
func SameTarget(a, b string, replace bool) bool {
	_, _, found := Collision([]string{a, b}, replace)
	return found
}

// Collision finds the first pair of paths, i < j, whose writes with the
// policy replace would land on one file, so that the later would replace
// the earlier. With replace, symbolic links at each path are followed
// first. Two existing targets are compared as files (os.SameFile); two
// that do not exist yet by their folders' real paths (links in them
// resolved) and their names. A path it cannot resolve (a link loop)
// collides with none: the write itself refuses it. Each path is looked up
// once.
func Collision(paths []string, replace bool) (i, j int, found bool) {
	type target struct {
		ok   bool
		st   fs.FileInfo // nil: does not exist yet
		real string      // realPath, when st is nil
	}
	ts := make([]target, len(paths))
	for k, p := range paths {
		t := p
		if replace {
			var err error
			if t, err = resolve(p); err != nil {
				continue
			}
		}
		ts[k].ok = true
		if st, err := os.Stat(t); err == nil {
			ts[k].st = st
		} else {
			ts[k].real = realPath(t)
		}
	}
	for j := range ts {
		for i := range ts[:j] {
			a, b := ts[i], ts[j]
			if !a.ok || !b.ok || (a.st == nil) != (b.st == nil) {
				continue // one exists and the other does not: different
			}
			if a.st != nil && os.SameFile(a.st, b.st) || a.st == nil && a.real == b.real {
				return i, j, true
			}
		}
	}
	return 0, 0, false
}

// realPath is path's folder with every link in it resolved, joined with
// path's last element; where the folder cannot be resolved, the cleaned
// absolute path.
func realPath(path string) string {
	d, name := filepath.Split(path)
	if d == "" {
		d = "."
	}
	if rd, err := filepath.EvalSymlinks(d); err == nil {
		if ard, err := filepath.Abs(rd); err == nil {
			return filepath.Join(ard, name)
		}
	}
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return filepath.Clean(path)
}

// Write stages and commits one file: see Stage and Commit.
func Write(path string, replace bool, write func(io.Writer) error) error {
	return commit(stage(path, replace, write, true))
}

// WriteBytes writes data to path: see Stage and Commit.
func WriteBytes(path string, data []byte, replace bool) error {
	return commit(stage(path, replace, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}, false))
}

func commit(s *Staged, err error) error {
	if err != nil {
		return err
	}
	defer s.Discard()
	return s.Commit()
}

// errorf prefixes err with the path, and with the file a link at it
// leads to when that is another.
func (s *Staged) errorf(err error) error {
	if s.target != s.path {
		return fmt.Errorf("%s (link to %s): %w", s.path, s.target, err)
	}
	return fmt.Errorf("%s: %w", s.path, err)
}

// link makes the synced file tmp also appear as path, failing with an
// error wrapping fs.ErrExist if path exists. Where hard links are not
// supported (some network or FUSE file systems) it creates path with
// O_EXCL and copies tmp into it.
func link(tmp, path string, perm fs.FileMode) error {
	err := hardLink(tmp, path)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	src, err := os.Open(tmp)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, src)
	if err == nil {
		err = dst.Chmod(perm) // past the umask
	}
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path) // ours: O_EXCL created it
	}
	return err
}

// resolve follows symbolic links in the last element of path and returns
// the path of the file they lead to, which need not exist (a dangling link
// names the file to create). Links in the folders above are left to the
// system: a relative link target is joined to the link's folder as
// written, without cleaning, so ".." in it means what it means to the
// system.
func resolve(path string) (string, error) {
	for range maxLinks {
		st, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return path, nil
		}
		if err != nil {
			return "", err
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			return path, nil
		}
		target, err := os.Readlink(path)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(target) {
			d, _ := filepath.Split(path)
			target = d + target
		}
		path = target
	}
	return "", fmt.Errorf("more than %d levels of symbolic links", maxLinks)
}

// dir is the folder of path, as written (filepath.Dir would clean it,
// reading "link/.." lexically).
func dir(path string) string {
	d, _ := filepath.Split(path)
	if d == "" {
		return "."
	}
	return d
}

// hardLink is os.Link; tests replace it to take the copying path.
var hardLink = os.Link

// maxTempBase bounds the part of a temporary file's name taken from its
// target's, so that the name fits in 255 bytes.
const maxTempBase = 200

// tempPattern is the os.CreateTemp pattern of path's temporary files.
func tempPattern(path string) string {
	_, base := filepath.Split(path)
	if len(base) > maxTempBase {
		n := maxTempBase
		for n > 0 && !utf8.RuneStart(base[n]) {
			n--
		}
		base = base[:n]
	}
	return ".tessella-" + base + ".tmp-*"
}

// syncDir makes new directory entries in dir durable; best effort, since
// not every system can sync a folder.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
