// Command hallmark-log serves Hallmark's transparency logs.
package main

func main() {}
