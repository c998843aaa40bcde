package api

import (
	"io/fs"
	"net/http"
	"os"
)

// StaticFiles serves the regular files under dir, such as a TUF repository's
// metadata and targets, and answers 404 for directories: no listing tells a
// caller what else the directory holds.
func StaticFiles(dir string) http.Handler {
	return http.FileServer(filesOnly{http.Dir(dir)})
}

type filesOnly struct{ fs http.FileSystem }

func (f filesOnly) Open(name string) (http.File, error) {
	file, err := f.fs.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		file.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
	}
	return file, nil
}
